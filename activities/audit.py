"""Every activity attempt audited in the database and measured in Prometheus."""

import asyncio
import logging
import time
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from models.runs import AuditEvent

log = logging.getLogger(__name__)

STEP_SECONDS = Histogram(
    "mcs_step_seconds", "Duration of one step attempt", ["step", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)  # fmt: skip
STEP_ATTEMPTS = Counter("mcs_step_attempts_total", "Step attempts", ["step", "outcome"])


class AuditInterceptor(Interceptor):
    """Wraps every activity: a histogram, a counter and an `audit_events` row per attempt."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AuditActivity(next, self._engine)


class _AuditActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, engine: Engine) -> None:
        super().__init__(next)
        self._engine = engine

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        started = time.monotonic()
        outcome, detail = "ok", ""
        try:
            return await self.next.execute_activity(input)
        except BaseException as error:
            outcome, detail = "error", f"{type(error).__name__}: {error}"[:500]
            raise
        finally:
            seconds = time.monotonic() - started
            STEP_SECONDS.labels(info.activity_type, outcome).observe(seconds)
            STEP_ATTEMPTS.labels(info.activity_type, outcome).inc()
            row = AuditEvent(
                workflow_id=info.workflow_id or "",
                run_id=info.workflow_run_id or "",
                step=info.activity_type,
                attempt=info.attempt,
                outcome=outcome,
                duration_ms=round(seconds * 1000, 3),
                detail=detail,
            )
            await asyncio.get_running_loop().run_in_executor(None, self._write, row)

    def _write(self, row: AuditEvent) -> None:
        try:
            with Session(self._engine) as session:
                session.add(row)
                session.commit()
        except Exception:  # an audit write must never fail the step it audits
            log.exception("audit write failed for %s", row.step)
