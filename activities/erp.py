"""The ERP order gateway: create the sales order, exactly once per idempotency key.

Exactly once does not rest on the ERP honouring `Idempotency-Key` (many do not): a retry after
an ambiguous failure (a timeout, a lost connection, a 5xx, a dead worker) first asks the ERP for
an order under the key (`GET /v1/orders?idempotency_key=K`) and creates one only if there is none.
"""

import dataclasses
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities._http import heartbeating, raise_for_status
from models.errors import ErrorType, transient
from models.results import ErpInput, ErpResult
from settings import Settings
from telemetry.metrics import ERP_CALLS
from telemetry.tracing import Tracer

IN_PROGRESS = 409  # the ERP is still creating an order under this key: ask again later


class ErpActivities:
    """Posts orders to `{MCS_ERP_BASE_URL}/v1/orders` with an `Idempotency-Key`."""

    def __init__(
        self, http: httpx.AsyncClient, settings: Settings, tracer: Tracer | None = None
    ) -> None:
        self._http = http
        self._settings = settings
        self._tracer = tracer or Tracer(None)

    @activity.defn
    async def call_erp_gateway(self, input: ErpInput) -> ErpResult:
        """Create the order, unless an earlier attempt did (looked up by its key first)."""
        inputs = {"order_payload": input.order_payload.model_dump(mode="json")}
        async with self._tracer.span("erp.create_order", "tool", inputs) as span:
            result = await self._order(input)
            span.outputs = dataclasses.asdict(result)
            return result

    async def _order(self, input: ErpInput) -> ErpResult:
        if activity.info().attempt > 1:
            found = await heartbeating(self._lookup(input.idempotency_key))
            if found is not None:
                ERP_CALLS.labels("found").inc()
                return found
        try:
            response = await heartbeating(self._create(input))
        except httpx.HTTPError:
            ERP_CALLS.labels("network").inc()
            raise
        ERP_CALLS.labels(_outcome(response.status_code)).inc()
        if response.status_code == IN_PROGRESS:
            raise ApplicationError(
                "the ERP is still creating an order under this key",
                type=transient(ErrorType.ERP_REJECTED),
            )
        raise_for_status(response, ErrorType.ERP_REJECTED)
        data = response.json()
        if not data.get("ok") or not data.get("sales_order_no"):
            raise ApplicationError(
                f"ERP answered without an order: {str(data)[:300]}",
                type=ErrorType.ERP_REJECTED,
                non_retryable=True,
            )
        return _result(data)

    async def _create(self, input: ErpInput) -> httpx.Response:
        body = {
            "order_payload": input.order_payload.model_dump(mode="json"),
            "audit": {
                "message_id": input.message_id,
                "workflow_id": input.workflow_id,
                "idempotency_key": input.idempotency_key,
            },
        }
        return await self._http.post(
            self._url(),
            json=body,
            headers={**self._auth(), "Idempotency-Key": input.idempotency_key},
            timeout=self._settings.erp_timeout.total_seconds(),
        )

    async def _lookup(self, key: str) -> ErpResult | None:
        """The order created under `key`, if the ERP has one (an ERP without the lookup: None)."""
        response = await self._http.get(
            self._url(),
            params={"idempotency_key": key},
            headers=self._auth(),
            timeout=self._settings.erp_timeout.total_seconds(),
        )
        if response.status_code in (404, 405, 501):
            return None
        raise_for_status(response, ErrorType.ERP_REJECTED)
        orders = response.json().get("orders") or []
        if not orders:
            return None
        return _result(orders[0])

    def _url(self) -> str:
        return f"{self._settings.erp_base_url.rstrip('/')}/v1/orders"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._settings.erp_api_key}"}


def _result(order: dict[str, Any]) -> ErpResult:
    """The order as the ERP names it, created now or found under its key."""
    return ErpResult(
        sales_order_no=str(order["sales_order_no"]), order_url=str(order.get("order_url", ""))
    )


def _outcome(status: int) -> str:
    if status == IN_PROGRESS:
        return "in_progress"
    if status < 400:
        return "created"
    return "rejected" if status < 500 else "server_error"
