"""The ERP order gateway: create the sales order, exactly once per idempotency key."""

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities._http import raise_for_status
from models.errors import ErrorType
from models.results import ErpInput, ErpResult
from settings import Settings


class ErpActivities:
    """Posts orders to `{MCS_ERP_BASE_URL}/v1/orders` with an `Idempotency-Key`."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._settings = settings

    @activity.defn
    async def call_erp_gateway(self, input: ErpInput) -> ErpResult:
        """Create the order; a repeated key returns the first order, so retries are safe."""
        body = {
            "order_payload": input.order_payload.model_dump(mode="json"),
            "audit": {
                "message_id": input.message_id,
                "workflow_id": input.workflow_id,
                "idempotency_key": input.idempotency_key,
            },
        }
        response = await self._http.post(
            f"{self._settings.erp_base_url.rstrip('/')}/v1/orders",
            json=body,
            headers={
                "Authorization": f"Bearer {self._settings.erp_api_key}",
                "Idempotency-Key": input.idempotency_key,
            },
            timeout=self._settings.erp_timeout.total_seconds(),
        )
        raise_for_status(response, ErrorType.ERP_REJECTED)
        data = response.json()
        if not data.get("ok") or not data.get("sales_order_no"):
            raise ApplicationError(
                f"ERP answered without an order: {str(data)[:300]}",
                type=ErrorType.ERP_REJECTED,
                non_retryable=True,
            )
        return ErpResult(
            sales_order_no=str(data["sales_order_no"]), order_url=str(data.get("order_url", ""))
        )
