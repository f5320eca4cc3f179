"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.outbox import Outbox

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: bool
    temporal: bool
    queued: int = 0  # accepted emails whose run has not started yet


def _queued(outbox: Outbox) -> int | None:
    """The intake backlog, or None when the database does not answer (the count is the probe)."""
    try:
        return outbox.queued()
    except Exception:
        return None


@router.get("/v1/healthz", response_model=Health)
async def healthz(request: Request) -> Health:
    """Whether the API, its database and its Temporal connection work, and the intake backlog."""
    queued = await run_in_threadpool(_queued, request.app.state.outbox)
    database = queued is not None
    temporal = request.app.state.temporal is not None
    return Health(
        status="ok" if database and temporal else "degraded",
        database=database,
        temporal=temporal,
        queued=queued or 0,
    )
