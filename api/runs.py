"""The run reader: every way the API reads sales-email runs, and every visibility query it makes.

A run's state is read in this order, the first that knows it answering:
1. Temporal does not know the run: the stored run record (finished, and gone from Temporal), else
   the intake outbox (accepted and about to start, or refused for good); an entry whose run
   started between the two reads sends the reader back to Temporal;
2. the run completed: its result;
3. the run waits for a review: the view it put in its memo on entering the review (no worker
   needs to answer);
4. the run is running otherwise: its `status` query, bounded (its worker may be gone);
5. otherwise (failed, terminated, timed out, or no answer in time): its search attributes.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from models import run_contract as contract
from models.ingest import OutboxEntry, OutboxStatus
from models.masterdata import aware
from models.runs import AuditEntry, AuditEvent, RunError, RunRecord, RunStatus, RunView
from telemetry.metrics import REVIEW_QUEUE
from temporal_client import run_handle

QUERY_TIMEOUT = timedelta(seconds=5)
WAITING_READS = 8  # runs without a readable memo, read on their own at once
QUEUED_STEP = "queued"
UNSAFE_IN_QUERY = set("'\"\\") | {chr(c) for c in range(32)}
log = logging.getLogger(__name__)


def visibility_query(
    status: RunStatus | None = None,
    customer_id: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    running: bool = False,
) -> str:
    """The visibility query for sales-email runs with these filters (built from the contract's
    names; a value that could break out of its quotes is refused with ValueError)."""
    clauses = [f"WorkflowType = '{contract.WORKFLOW}'"]
    if running:
        clauses.append("ExecutionStatus = 'Running'")
    if status is not None:
        clauses.append(f"{contract.STATUS.name} = '{status.value}'")
    if customer_id:
        if UNSAFE_IN_QUERY & set(customer_id):
            raise ValueError("customer_id holds a quote, backslash or control character")
        clauses.append(f"{contract.CUSTOMER_ID.name} = '{customer_id}'")
    for bound, operator in ((started_after, ">="), (started_before, "<")):
        if bound is not None:
            clauses.append(f"StartTime {operator} '{aware(bound).isoformat()}'")
    return " AND ".join(clauses)


REVIEWS = visibility_query(status=RunStatus.MANUAL_REVIEW, running=True)


async def count_reviews(client: Client, every: float = 15.0) -> None:
    """Keep `review_queue_size` current until cancelled (from Temporal visibility)."""
    while True:
        try:
            REVIEW_QUEUE.set((await client.count_workflows(REVIEWS)).count)
        except RPCError as error:  # visibility away for a moment: the gauge keeps its value
            log.warning("counting the runs waiting for review failed: %s", error)
        await asyncio.sleep(every)


async def listed(client: Client, query: str, limit: int) -> AsyncIterator[WorkflowExecution]:
    """The runs a visibility query finds, newest first."""
    async for execution in client.list_workflows(query, limit=limit):
        yield execution


async def waiting_runs(client: Client, session: Session, limit: int = 100) -> list[RunView]:
    """The runs waiting for a review, each as its memo shows it (read on its own without one)."""
    executions = [e async for e in listed(client, REVIEWS, limit)]
    bound = asyncio.Semaphore(WAITING_READS)

    async def read(execution: WorkflowExecution) -> RunView | None:
        waiting = await waiting_state(execution)
        if waiting is not None:
            return waiting
        async with bound:
            return await read_run(client, session, execution.id)

    found = await asyncio.gather(*(read(execution) for execution in executions))
    return [run for run in found if run is not None and run.review is not None]


def audit_of(session: Session, workflow_id: str) -> list[AuditEntry]:
    """Every step attempt of a run, in the order they ended."""
    query = (
        select(AuditEvent).where(AuditEvent.workflow_id == workflow_id).order_by(col(AuditEvent.id))
    )
    return [
        AuditEntry(
            step=row.step, attempt=row.attempt, outcome=row.outcome, duration_ms=row.duration_ms,
            error_code=row.error_code, detail=row.detail, at=row.created_at,
        )
        for row in session.exec(query)
    ]  # fmt: skip


def from_search_attributes(execution: WorkflowExecution) -> RunView:
    """A run as far as Temporal visibility knows it (a listing, or `describe`)."""
    attributes = execution.typed_search_attributes
    status = attributes.get(contract.STATUS) or RunStatus.RUNNING
    closed = execution.status not in (None, WorkflowExecutionStatus.RUNNING)
    result = RunView(
        workflow_id=execution.id,
        run_id=execution.run_id,
        message_id=attributes.get(contract.MESSAGE_ID) or "",
        status=RunStatus(status),
        step=attributes.get(contract.STEP) or "",
        started_at=execution.start_time,
        finished_at=execution.close_time,
        customer_id=attributes.get(contract.CUSTOMER_ID),
    )
    if closed and execution.status != WorkflowExecutionStatus.COMPLETED:
        name = execution.status.name if execution.status else "UNKNOWN"
        result.status = RunStatus.FAILED
        result.errors.append(RunError(code="WORKFLOW_" + name, message=f"workflow {name.lower()}"))
    return result


def queued_run(entry: OutboxEntry) -> RunView:
    """An accepted email whose run has not started yet (or never will: a start refused for good
    is FAILED)."""
    result = RunView(workflow_id=entry.workflow_id, message_id=entry.message_id, step=QUEUED_STEP)
    if entry.status == OutboxStatus.FAILED:
        result.status = RunStatus.FAILED
        result.errors.append(RunError(code="START_REFUSED", message=entry.last_error))
        return result
    if entry.last_error:
        result.warnings.append(
            f"the run has not started yet ({entry.attempts} attempts): {entry.last_error}"
        )
    return result


def queued_runs(
    session: Session, limit: int, after: datetime | None = None, before: datetime | None = None
) -> list[RunView]:
    """The newest accepted emails whose run has not started, accepted in [after, before)."""
    query = select(OutboxEntry).where(OutboxEntry.status == OutboxStatus.QUEUED)
    if after is not None:
        query = query.where(OutboxEntry.created_at >= aware(after))
    if before is not None:
        query = query.where(OutboxEntry.created_at < aware(before))
    newest = query.order_by(col(OutboxEntry.created_at).desc()).limit(limit)
    return [queued_run(entry) for entry in session.exec(newest)]


def stored_run(session: Session, workflow_id: str) -> RunView | None:
    """What the database knows of a run Temporal does not: its record, else its outbox entry."""
    record = session.get(RunRecord, workflow_id)
    if record is not None:
        return record.view()
    entry = session.get(OutboxEntry, workflow_id)
    if entry is not None and entry.status in (OutboxStatus.QUEUED, OutboxStatus.FAILED):
        return queued_run(entry)
    return None


def _started(session: Session, workflow_id: str) -> bool:
    """Whether the outbox marked the email's run started (read by `stored_run` just before)."""
    entry = session.get(OutboxEntry, workflow_id)
    return entry is not None and entry.status == OutboxStatus.STARTED


async def read_run(client: Client, session: Session, workflow_id: str) -> RunView | None:
    """The run's state, read in the order the module's docstring gives."""
    handle = run_handle(client, workflow_id)
    try:
        description = await handle.describe()
    except RPCError:
        stored = stored_run(session, workflow_id)
        if stored is not None or not _started(session, workflow_id):
            return stored
        try:  # its run started (and was marked) between Temporal's answer and this read
            description = await handle.describe()
        except RPCError:
            return None
    try:
        if description.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        if description.status == WorkflowExecutionStatus.RUNNING:
            waiting = await waiting_state(description)
            if waiting is not None:
                return waiting
            # bounded as a whole: a query to a run whose worker was killed goes to that worker's
            # sticky queue until the server gives up on it (about 10 s)
            return await _bounded(
                handle.query(contract.STATUS_QUERY, result_type=RunView, rpc_timeout=QUERY_TIMEOUT)
            )
    except (RPCError, TimeoutError):
        pass
    return from_search_attributes(description)


async def waiting_state(execution: WorkflowExecution) -> RunView | None:
    """A run waiting for a review as it published itself on entering the review (its memo);
    None for any other run. `execution`: from `describe`, or a listing (visibility holds the
    memo too)."""
    if execution.typed_search_attributes.get(contract.STATUS) != RunStatus.MANUAL_REVIEW:
        return None
    try:
        state = await execution.memo_value(contract.WAITING_MEMO, None, type_hint=RunView)
    except Exception as error:  # noqa: BLE001 - unreadable (a codec key gone?): ask the worker
        log.warning("the memo of %s is not readable: %s", execution.id, type(error).__name__)
        return None
    if not isinstance(state, RunView) or state.status != RunStatus.MANUAL_REVIEW:
        return None
    return state


async def _bounded(query: Awaitable[RunView]) -> RunView:
    """The query's answer within QUERY_TIMEOUT, else TimeoutError. A query the SDK keeps on
    retrying is abandoned, not awaited (it may not end on cancellation at once)."""
    task = asyncio.ensure_future(query)
    done, _ = await asyncio.wait({task}, timeout=QUERY_TIMEOUT.total_seconds())
    if task in done:
        return task.result()
    task.cancel()
    task.add_done_callback(lambda ended: ended.cancelled() or ended.exception())
    raise TimeoutError("the run's worker did not answer the query in time")
