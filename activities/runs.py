"""Run bookkeeping in the database: the idempotency check and the final record."""

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity

from models.actions import Action
from models.results import FinalizeInput, IdempotencyInput, IdempotencyResult
from models.runs import (
    IdempotencyRecord,
    OrderedContract,
    ReviewDecision,
    RunRecord,
    RunStatus,
    RunView,
)
from telemetry.actions import action_row
from telemetry.metrics import ERRORS, IDEMPOTENCY_HITS, ORDERS, RUNS
from telemetry.tracing import Tracer

SIGNALLED = "by the review_decision signal (the Web UI): the name was typed, not authenticated"


class RunActivities:
    """Reads and writes run records; every write is an upsert, so retries are harmless."""

    def __init__(self, engine: Engine, tracer: Tracer | None = None) -> None:
        self._engine = engine
        self._tracer = tracer or Tracer(None)

    @activity.defn
    def check_idempotency(self, input: IdempotencyInput) -> IdempotencyResult:
        """Return the stored result when this email and PDF already produced an order."""
        with Session(self._engine) as session:
            record = session.get(IdempotencyRecord, input.key)
            if record is None:
                return IdempotencyResult()
            IDEMPOTENCY_HITS.inc()
            return IdempotencyResult(stored=record.view())

    @activity.defn
    def finalize(self, input: FinalizeInput) -> None:
        """Store the run's outcome; a SUCCESS also becomes the idempotency record."""
        result = input.result
        with Session(self._engine) as session:
            run = session.get(RunRecord, result.workflow_id) or RunRecord(
                workflow_id=result.workflow_id
            )
            run.keep(result)
            run.blobs = input.blobs or run.blobs
            session.add(run)
            is_new_order = result.status == RunStatus.SUCCESS and result.sales_order_no
            first = is_new_order and session.get(IdempotencyRecord, result.idempotency_key) is None
            if first:
                session.add(
                    IdempotencyRecord(
                        key=result.idempotency_key,
                        workflow_id=result.workflow_id,
                        sales_order_no=result.sales_order_no or "",
                        result=run.result,
                    )
                )
            if is_new_order and result.contract_no and result.customer_id:
                self._remember_contract(session, result)
            self._settle_claims(session, result.workflow_id, result.sales_order_no or "")
            for decision in input.signalled:
                self._audit_signal(session, result.workflow_id, decision)
            session.commit()
        RUNS.labels(result.status).inc()
        if first:  # the order this run made (a duplicate email's run made none)
            ORDERS.labels("touchless" if result.review is None else "reviewed").inc()
        for error in result.errors:
            ERRORS.labels(error.code).inc()
        info = activity.info()
        self._tracer.finish(info.workflow_id or "", info.workflow_run_id or "", result.status)

    @staticmethod
    def _audit_signal(session: Session, workflow_id: str, decision: ReviewDecision) -> None:
        """A decision taken by signal, as an action of the name typed with it (once, however
        often finalize runs): no key vouches for that name."""
        summary = "; ".join(p for p in (decision.summary(), SIGNALLED) if p)
        row = action_row(
            f"{decision.reviewer or '?'} (signal, unverified)",
            f"review.{decision.decision}",
            workflow_id,
            summary,
        )
        done = select(Action).where(
            Action.target == row.target, Action.actor == row.actor, Action.action == row.action
        )
        if session.exec(done).first() is None:
            session.add(row)

    @staticmethod
    def _settle_claims(session: Session, workflow_id: str, sales_order_no: str) -> None:
        """The contracts this run claimed at the order guard: now ordered (their order number),
        or let go for a later mail when the run made no order."""
        claims = select(OrderedContract).where(
            OrderedContract.workflow_id == workflow_id, OrderedContract.sales_order_no == ""
        )
        for claim in session.exec(claims):
            if sales_order_no:
                claim.sales_order_no = sales_order_no
                session.add(claim)
            else:
                session.delete(claim)

    @staticmethod
    def _remember_contract(session: Session, result: RunView) -> None:
        """The first order of a contract is what later duplicates are named after; it also
        takes the place of another run's claim that made no order yet (an approved duplicate
        ordered first, or a claim left by a run stopped before its finalize)."""
        key = (result.customer_id, result.contract_no)
        row = session.get(OrderedContract, key)
        if row is None:
            row = OrderedContract(
                customer_id=result.customer_id or "", contract_no=result.contract_no or "",
                workflow_id="", sales_order_no="",
            )  # fmt: skip
        elif row.sales_order_no:
            return
        row.workflow_id = result.workflow_id
        row.sales_order_no = result.sales_order_no or ""
        session.add(row)
