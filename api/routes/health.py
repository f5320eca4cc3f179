"""Liveness and readiness."""

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.outbox import Outbox
from telemetry.probes import CachedReadiness, Readiness

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


@router.get("/v1/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(request: Request, response: Response) -> Readiness:
    """Whether the database, Temporal and the configured Dify, ERP and SMTP answer, each with its
    state and latency, at most 5 s old, and whether senders are checked: 503 when one of them is
    down (a load balancer sends no traffic here)."""
    state = request.app.state
    cached: CachedReadiness = state.readiness
    ready = await cached.get(state.settings, state.engine, state.temporal)
    response.status_code = 200 if ready.status == "ready" else 503
    return ready
