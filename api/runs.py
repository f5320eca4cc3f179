"""Reading runs back from Temporal (and the database when Temporal cannot answer)."""

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta

from sqlmodel import Session, col, select
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError

from api.outbox import queued_run
from models.ingest import OutboxEntry, OutboxStatus
from models.runs import (
    AuditEntry,
    AuditEvent,
    OrchestratorRunResult,
    RunError,
    RunRecord,
    RunStatus,
)
from telemetry.metrics import REVIEW_QUEUE
from temporal_client import run_handle
from workflows import search_attributes as sa
from workflows.sales_email import SalesEmailWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)
REVIEWS = (
    "WorkflowType = 'SalesEmailWorkflow' AND ExecutionStatus = 'Running'"
    " AND SalesEmailStatus = 'MANUAL_REVIEW'"
)
log = logging.getLogger(__name__)


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


async def count_reviews(client: Client, every: float = 15.0) -> None:
    """Keep `review_queue_size` current until cancelled (from Temporal visibility)."""
    while True:
        try:
            REVIEW_QUEUE.set((await client.count_workflows(REVIEWS)).count)
        except RPCError as error:  # visibility away for a moment: the gauge keeps its value
            log.warning("counting the runs waiting for review failed: %s", error)
        await asyncio.sleep(every)


def from_search_attributes(description: WorkflowExecutionDescription) -> OrchestratorRunResult:
    """A run as far as Temporal visibility knows it."""
    attributes = description.typed_search_attributes
    status = attributes.get(sa.STATUS) or RunStatus.RUNNING
    closed = description.status not in (None, WorkflowExecutionStatus.RUNNING)
    result = OrchestratorRunResult(
        workflow_id=description.id,
        run_id=description.run_id,
        message_id=attributes.get(sa.MESSAGE_ID) or "",
        status=RunStatus(status),
        step=attributes.get(sa.STEP) or "",
        started_at=description.start_time,
        finished_at=description.close_time,
        customer_id=attributes.get(sa.CUSTOMER_ID),
    )
    if closed and description.status != WorkflowExecutionStatus.COMPLETED:
        name = description.status.name if description.status else "UNKNOWN"
        result.status = RunStatus.FAILED
        result.errors.append(RunError(code="WORKFLOW_" + name, message=f"workflow {name.lower()}"))
    return result


async def read_run(
    client: Client, session: Session, workflow_id: str
) -> OrchestratorRunResult | None:
    """The run's result: the workflow's own answer, else what visibility and the database know
    (how it ended, or that the email is accepted and its run about to start)."""
    handle = run_handle(client, workflow_id)
    try:
        description = await handle.describe()
    except RPCError:
        record = session.get(RunRecord, workflow_id)
        if record is not None:
            return OrchestratorRunResult.model_validate(record.result)
        entry = session.get(OutboxEntry, workflow_id)
        if entry is not None and entry.status in (OutboxStatus.QUEUED, OutboxStatus.FAILED):
            return queued_run(entry)
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
                handle.query(SalesEmailWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
            )
    except (RPCError, TimeoutError):
        pass
    return from_search_attributes(description)


async def waiting_state(execution: WorkflowExecution) -> OrchestratorRunResult | None:
    """A run waiting for a review as it published itself on entering the review (its memo), so
    that reading it needs no worker; None for any other run, or a run from before the memo.
    `execution`: from `describe`, or a listing (visibility holds the memo too)."""
    if execution.typed_search_attributes.get(sa.STATUS) != RunStatus.MANUAL_REVIEW:
        return None
    try:
        state = await execution.memo_value(sa.WAITING, None, type_hint=OrchestratorRunResult)
    except Exception as error:  # noqa: BLE001 - unreadable (a codec key gone?): ask the worker
        log.warning("the memo of %s is not readable: %s", execution.id, type(error).__name__)
        return None
    if not isinstance(state, OrchestratorRunResult) or state.status != RunStatus.MANUAL_REVIEW:
        return None
    return state


async def _bounded(query: Awaitable[OrchestratorRunResult]) -> OrchestratorRunResult:
    """The query's answer within QUERY_TIMEOUT, else TimeoutError. A query the SDK keeps on
    retrying is abandoned, not awaited (it may not end on cancellation at once)."""
    task = asyncio.ensure_future(query)
    done, _ = await asyncio.wait({task}, timeout=QUERY_TIMEOUT.total_seconds())
    if task in done:
        return task.result()
    task.cancel()
    task.add_done_callback(lambda ended: ended.cancelled() or ended.exception())
    raise TimeoutError("the run's worker did not answer the query in time")
