"""The order guard as a step: a draft checked against masterdata and earlier orders."""

from dataclasses import replace

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from matching.snapshot import MasterdataCache
from models.orders import Finding, FindingCode
from models.results import OrderCheckInput, OrderCheckResult
from models.runs import OrderedContract
from orders import guard
from settings import Settings


class OrderActivities:
    """Checks drafts before the ERP sees them; reads masterdata and the ordered contracts."""

    def __init__(self, cache: MasterdataCache, engine: Engine, settings: Settings) -> None:
        self._cache = cache
        self._engine = engine
        self._settings = settings

    @activity.defn
    def review_order(self, input: OrderCheckInput) -> OrderCheckResult:
        """Every finding about the draft, and the order the ERP would receive."""
        settings = self._settings
        context = replace(
            input.context,
            tolerance=settings.order_total_tolerance,
            currencies=settings.order_currencies,
        )
        findings = guard.check(input.draft, context, self._cache.get().products)
        if input.duplicates and (earlier := self._earlier(input)) is not None:
            findings.append(earlier)
        return OrderCheckResult(
            findings=findings,
            payload=guard.to_send(input.draft, context),
            context=context,
            review_timeout_seconds=settings.review_timeout.total_seconds(),
        )

    def _earlier(self, input: OrderCheckInput) -> Finding | None:
        """The finding for an earlier order of the same contract by the same customer."""
        contract_no = input.contract_no or input.draft.contract_no
        if not contract_no.strip():
            return None
        with Session(self._engine) as session:
            row = session.get(OrderedContract, (input.context.customer_id, contract_no))
        if row is None or row.workflow_id == input.workflow_id:
            return None
        return Finding(
            code=FindingCode.DUPLICATE_CONTRACT,
            message=f"contract {contract_no} of {row.customer_id} was ordered before: "
            f"{row.sales_order_no} by {row.workflow_id}",
        )
