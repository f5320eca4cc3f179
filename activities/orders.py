"""The order guard as a step: a draft checked against masterdata and earlier orders."""

import functools
from dataclasses import replace

from sqlalchemy import Engine, Executable
from sqlmodel import col, select
from temporalio import activity

from matching.snapshot import MasterdataCache
from models.db import bound, insert_or
from models.masterdata import utcnow
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
        snapshot = self._cache.get(input.version)
        own = snapshot.refs.get(context.customer_id, {})  # never another customer's references
        refs = {key: (ref.product_code, ref.unit_factor) for key, ref in own.items()}
        draft = guard.resolve(input.draft, refs, snapshot.products)
        findings = guard.check(draft, context, snapshot.products)
        if input.duplicates and (taken := self._claim(input)) is not None:
            findings.append(taken)
        return OrderCheckResult(
            findings=findings,
            payload=guard.to_send(draft, context),
            dropped=guard.dropped(input.draft),
            context=context,
            review_timeout_seconds=settings.review_timeout.total_seconds(),
        )

    def _claim(self, input: OrderCheckInput) -> Finding | None:
        """Claim the contract for this run, or the finding that names the run holding it: the
        one that ordered it, or one ordering it now. The claim is taken here, not when the order
        is made, so two mails of one contract checked at the same moment cannot both pass;
        `finalize` settles it (the order number, or the claim let go when no order was made)."""
        contract_no = input.contract_no or input.draft.contract_no
        customer_id = input.context.customer_id
        if not contract_no.strip() or not customer_id:
            return None
        holder = select(OrderedContract.workflow_id, OrderedContract.sales_order_no).where(
            col(OrderedContract.customer_id) == customer_id,
            col(OrderedContract.contract_no) == contract_no,
        )
        row = None
        mine = {
            "customer_id": customer_id, "contract_no": contract_no,
            "workflow_id": input.workflow_id, "sales_order_no": "", "created_at": utcnow(),
        }  # fmt: skip
        with self._engine.begin() as connection:
            claim = _claim(connection.dialect.name)
            for _ in range(3):  # a claim let go between our insert and our read: try again
                if connection.execute(claim, mine).rowcount:
                    return None  # claimed: one statement, no read first
                row = connection.execute(holder).first()
                if row is not None:
                    break
        if row is None or row.workflow_id == input.workflow_id:
            return None
        if row.sales_order_no:
            held = f"was ordered before: {row.sales_order_no} by {row.workflow_id}"
        else:
            held = f"is being ordered by {row.workflow_id} (not in the ERP yet)"
        return Finding(
            code=FindingCode.DUPLICATE_CONTRACT,
            message=f"contract {contract_no} of {customer_id} {held}",
        )


@functools.cache
def _claim(dialect: str) -> Executable:
    """The claim's INSERT, built once (`bound`); each claim's row goes in as parameters."""
    return (
        insert_or(dialect, OrderedContract).values(bound(OrderedContract)).on_conflict_do_nothing()
    )
