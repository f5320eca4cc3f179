"""The sales-email orchestration: submit emails, read runs, decide reviews."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from temporalio.service import RPCError

from api.attachments import (
    attachment_bytes,
    by_size,
    ensure_message_id,
    store_attachment,
    vetted,
)
from api.deps import (
    BlobsDep,
    OutboxDep,
    SessionDep,
    SettingsDep,
    Submitter,
    TemporalDep,
    allow,
)
from api.replay import replay
from api.reviews import decide
from api.runs import (
    audit_of,
    from_search_attributes,
    listed,
    queued_runs,
    read_run,
    visibility_query,
)
from api.stats import Stats, stats
from mail.mime import MAX_ATTACHMENTS
from models.email import EmailEvent, workflow_id_for
from models.runs import OrchestratorRunResult, ReviewDecision, RunStatus, RunView, SubmitAnswer
from settings import ApiKey
from telemetry.actions import record

router = APIRouter(prefix="/v1/orchestrations/sales-email", tags=["sales-email"])
stats_router = APIRouter(prefix="/v1", tags=["sales-email"])
Reader = Depends(allow("runs:read"))
Reviewer = Annotated[ApiKey, Depends(allow("runs:review"))]
Replayer = Annotated[ApiKey, Depends(allow("runs:replay"))]
# A value put into a visibility query: no quotes, backslashes or control characters.
SAFE_IN_QUERY = r"^[^'\"\\\x00-\x1f]*$"


class ReplayRequest(BaseModel):
    workflow_id: str | None = None
    message_id: str | None = None
    from_step: str | None = None


class RunSummary(BaseModel):
    workflow_id: str
    run_id: str
    message_id: str
    status: RunStatus
    step: str
    customer_id: str | None
    started_at: str | None
    finished_at: str | None


@router.post("/run", status_code=202, response_model=SubmitAnswer)
async def run_email(
    event: EmailEvent, outbox: OutboxDep, settings: SettingsDep, blobs: BlobsDep, caller: Submitter
) -> SubmitAnswer:
    """Accept an email as JSON (attachments by bytes_b64 or url); its run starts right after."""
    return await accept_event(event, outbox, settings, blobs, caller)


async def accept_event(
    event: EmailEvent, outbox: OutboxDep, settings: SettingsDep, blobs: BlobsDep, caller: ApiKey
) -> SubmitAnswer:
    """Store the attachments of an EmailEvent, then record it for its run (or find the run)."""
    limit = settings.max_attachment_bytes
    if len(event.attachments) > MAX_ATTACHMENTS:
        raise HTTPException(422, f"more than {MAX_ATTACHMENTS} attachments")
    stored, total = [], 0
    for attachment in event.attachments:
        data = await attachment_bytes(attachment, blobs, settings)
        total += len(data)
        if total > settings.max_message_bytes:
            raise HTTPException(413, f"the attachments are over {settings.max_message_bytes} bytes")
        stored.append(await by_size(len(data), store_attachment, attachment, data, blobs, limit))
    event = ensure_message_id(event.model_copy(update={"attachments": stored}))
    return await outbox.accept(vetted(event, caller, parsed_here=False))


@router.get("/runs", response_model=list[RunSummary], dependencies=[Reader])
async def list_runs(
    temporal: TemporalDep,
    db: SessionDep,
    status: RunStatus | None = None,
    customer_id: Annotated[str | None, Query(max_length=200, pattern=SAFE_IN_QUERY)] = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[RunSummary]:
    """List runs, newest first (filters: status, customer, start time): from Temporal visibility,
    after the accepted emails whose run has not started yet (they count as RUNNING)."""
    query = visibility_query(status, customer_id, started_after, started_before)
    try:
        summaries = [
            _summary(from_search_attributes(execution))
            async for execution in listed(temporal, query, limit)
        ]
    except RPCError as error:
        raise HTTPException(503, f"Temporal cannot list runs now: {error.message}") from error
    if status not in (None, RunStatus.RUNNING) or customer_id:
        return summaries
    queued = await run_in_threadpool(queued_runs, db, limit, started_after, started_before)
    shown = {summary.workflow_id for summary in summaries}
    waiting = [_summary(run) for run in queued if run.workflow_id not in shown]
    return (waiting + summaries)[:limit]


def _summary(run: RunView) -> RunSummary:
    return RunSummary(
        workflow_id=run.workflow_id,
        run_id=run.run_id,
        message_id=run.message_id,
        status=run.status,
        step=run.step,
        customer_id=run.customer_id,
        started_at=run.started_at.isoformat() if run.started_at else None,
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
    )


@stats_router.get("/stats", response_model=Stats, dependencies=[Reader])
def get_stats(
    db: SessionDep,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Literal["customer", "day"] | None = None,
) -> Stats:
    """The automation figure: orders made without a person (touchless), reviewed, corrected,
    rejected, failed; the touchless rate and the median time to an order (runs finished in
    [since, until))."""
    return stats(db, since, until, group_by)


@router.get("/runs/{workflow_id}", response_model=OrchestratorRunResult, dependencies=[Reader])
async def get_run(workflow_id: str, temporal: TemporalDep, db: SessionDep) -> OrchestratorRunResult:
    """One run: status, step, ids, order, warnings, errors, the review while waiting, and the
    audit trail (every step attempt)."""
    run = await read_run(temporal, db, workflow_id)
    if run is None:
        raise HTTPException(404, f"no run {workflow_id}")
    audit = await run_in_threadpool(audit_of, db, workflow_id)
    return OrchestratorRunResult(**dict(run), audit=audit)


@router.post("/runs/{workflow_id}/review", response_model=ReviewDecision)
async def review_run(
    workflow_id: str,
    decision: ReviewDecision,
    temporal: TemporalDep,
    db: SessionDep,
    caller: Reviewer,
) -> ReviewDecision:
    """Approve (optionally naming the customer, or correcting the order) or reject a run waiting
    for review. The decision is made by the key's name; a `reviewer` sent becomes a comment."""
    return await decide(temporal, db, workflow_id, by_caller(decision, caller.name))


def by_caller(decision: ReviewDecision, name: str) -> ReviewDecision:
    """The decision as made by `name` (the key's): a different `reviewer` given is kept as a
    comment, so nobody can decide in another's name."""
    comment = decision.comment or ""
    if decision.reviewer and decision.reviewer != name:
        comment = f"(for {decision.reviewer}) {comment}".strip()
    return decision.model_copy(update={"reviewer": name, "comment": comment or None})


@router.post("/replay", status_code=202, response_model=SubmitAnswer)
async def replay_run(
    body: ReplayRequest,
    temporal: TemporalDep,
    settings: SettingsDep,
    db: SessionDep,
    caller: Replayer,
) -> SubmitAnswer:
    """Run a finished email again (same input, same ERP key), or reset a run to `from_step`."""
    workflow_id = body.workflow_id or (workflow_id_for(body.message_id) if body.message_id else "")
    if not workflow_id:
        raise HTTPException(422, "give workflow_id or message_id")
    answer = await replay(temporal, workflow_id, body.from_step, settings.task_queue)
    action, summary = ("reset", f"from step {body.from_step}") if body.from_step else ("replay", "")
    await run_in_threadpool(record, db, caller.name, action, workflow_id, summary)
    return answer
