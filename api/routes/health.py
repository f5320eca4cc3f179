"""Liveness and readiness."""

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import Engine, text

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: bool
    temporal: bool


def _database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@router.get("/v1/healthz", response_model=Health)
async def healthz(request: Request) -> Health:
    """Whether the API, its database and its Temporal connection work."""
    database = await run_in_threadpool(_database_ok, request.app.state.engine)
    temporal = request.app.state.temporal is not None
    return Health(
        status="ok" if database and temporal else "degraded", database=database, temporal=temporal
    )
