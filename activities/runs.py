"""Run bookkeeping in the database: the idempotency check and the final record."""

import functools
from typing import Any

from sqlalchemy import Connection, Engine, Executable, bindparam, delete, insert, update
from sqlmodel import col, select
from temporalio import activity

from models.actions import Action
from models.db import bound, insert_or
from models.masterdata import utcnow
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
        stored = select(IdempotencyRecord.result).where(IdempotencyRecord.key == input.key)
        with self._engine.connect() as connection:
            result = connection.execute(stored).scalar_one_or_none()
        if result is None:
            return IdempotencyResult()
        IDEMPOTENCY_HITS.inc()
        return IdempotencyResult(stored=RunView.model_validate(result))

    @activity.defn
    def finalize(self, input: FinalizeInput) -> None:
        """Store the run's outcome; a SUCCESS also becomes the idempotency record. One
        transaction of upserts (no row read first): a retry writes the same again."""
        result = input.result
        is_new_order = result.status == RunStatus.SUCCESS and bool(result.sales_order_no)
        columns = RunRecord.columns(result)
        with self._engine.begin() as connection:
            self._keep_run(connection, input, columns)
            first = is_new_order and self._first_order(connection, result, columns["result"])
            if is_new_order and result.contract_no and result.customer_id:
                self._remember_contract(connection, result)
            self._settle_claims(connection, result.workflow_id, result.sales_order_no or "")
            for decision in input.signalled:
                self._audit_signal(connection, result.workflow_id, decision)
        RUNS.labels(result.status).inc()
        if first:  # the order this run made (a duplicate email's run made none)
            ORDERS.labels("touchless" if result.review is None else "reviewed").inc()
        for error in result.errors:
            ERRORS.labels(error.code).inc()
        info = activity.info()
        self._tracer.finish(info.workflow_id or "", info.workflow_run_id or "", result.status)

    @staticmethod
    def _audit_signal(connection: Connection, workflow_id: str, decision: ReviewDecision) -> None:
        """A decision taken by signal, as an action of the name typed with it (once, however
        often finalize runs): no key vouches for that name."""
        summary = "; ".join(p for p in (decision.summary(), SIGNALLED) if p)
        row = action_row(
            f"{decision.reviewer or '?'} (signal, unverified)",
            f"review.{decision.decision}",
            workflow_id,
            summary,
        )
        done = select(Action.id).where(
            Action.target == row.target, Action.actor == row.actor, Action.action == row.action
        )
        if connection.execute(done).first() is None:
            connection.execute(insert(Action).values(row.model_dump(exclude={"id"})))

    @staticmethod
    def _keep_run(connection: Connection, input: FinalizeInput, columns: dict[str, Any]) -> None:
        """The run's row (`RunRecord.columns`), its files' hashes kept when this finalize names
        none."""
        row = {"workflow_id": input.result.workflow_id, "blobs": input.blobs, **columns}
        upsert = _run_upsert(connection.dialect.name, tuple(columns), bool(input.blobs))
        connection.execute(upsert, row)

    @staticmethod
    def _first_order(connection: Connection, result: RunView, view: dict[str, Any]) -> bool:
        """Record the order under its idempotency key; False when a run recorded it before."""
        row = {
            "key": result.idempotency_key, "workflow_id": result.workflow_id,
            "sales_order_no": result.sales_order_no or "", "result": view, "created_at": utcnow(),
        }  # fmt: skip
        return bool(connection.execute(_order_insert(connection.dialect.name), row).rowcount)

    @staticmethod
    def _settle_claims(connection: Connection, workflow_id: str, sales_order_no: str) -> None:
        """The contracts this run claimed at the order guard: now ordered (their order number),
        or let go for a later mail when the run made no order."""
        settle = _claims_settled(ordered=bool(sales_order_no))
        connection.execute(settle, {"run": workflow_id, "order_no": sales_order_no})

    @staticmethod
    def _remember_contract(connection: Connection, result: RunView) -> None:
        """The first order of a contract is what later duplicates are named after; it also
        takes the place of another run's claim that made no order yet (an approved duplicate
        ordered first, or a claim left by a run stopped before its finalize)."""
        row = {
            "customer_id": result.customer_id or "", "contract_no": result.contract_no or "",
            "workflow_id": result.workflow_id, "sales_order_no": result.sales_order_no or "",
            "created_at": utcnow(),
        }  # fmt: skip
        connection.execute(_contract_upsert(connection.dialect.name), row)


# finalize's statements, built once per kind (`bound`); each run's row goes in as parameters


@functools.cache
def _run_upsert(dialect: str, columns: tuple[str, ...], with_blobs: bool) -> Executable:
    row = insert_or(dialect, RunRecord).values(bound(RunRecord, ("workflow_id", "blobs", *columns)))
    changed = (*columns, "blobs") if with_blobs else columns
    return row.on_conflict_do_update(
        index_elements=["workflow_id"], set_={name: row.excluded[name] for name in changed}
    )


@functools.cache
def _order_insert(dialect: str) -> Executable:
    row = insert_or(dialect, IdempotencyRecord).values(bound(IdempotencyRecord))
    return row.on_conflict_do_nothing(index_elements=["key"])


@functools.cache
def _claims_settled(ordered: bool) -> Executable:
    mine = (col(OrderedContract.workflow_id) == bindparam("run")) & (
        col(OrderedContract.sales_order_no) == ""
    )
    if ordered:
        return update(OrderedContract).where(mine).values(sales_order_no=bindparam("order_no"))
    return delete(OrderedContract).where(mine)


@functools.cache
def _contract_upsert(dialect: str) -> Executable:
    row = insert_or(dialect, OrderedContract).values(bound(OrderedContract))
    return row.on_conflict_do_update(
        index_elements=["customer_id", "contract_no"],
        set_={"workflow_id": row.excluded.workflow_id,
              "sales_order_no": row.excluded.sales_order_no},
        where=col(OrderedContract.sales_order_no) == "",
    )  # fmt: skip
