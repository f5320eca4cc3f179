"""Every activity attempt audited in the database and measured in Prometheus."""

import logging
import queue
import threading
import time
from typing import Any

from sqlalchemy import Engine, insert
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from models.masterdata import utcnow
from models.runs import AuditEvent
from telemetry.logs import MESSAGE_ID
from telemetry.metrics import STEP_ATTEMPTS, STEP_SECONDS
from telemetry.redact import redact

log = logging.getLogger(__name__)


class AuditWriter:
    """Writes audit rows from a background thread in batches: one commit per batch, not per step."""

    def __init__(self, engine: Engine, batch: int = 500, linger: float = 0.2) -> None:
        self._engine = engine
        self._batch = batch
        self._linger = linger  # seconds to gather more rows after the first: fewer, bigger commits
        self._rows: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="audit-writer", daemon=True)
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        """Queue one `audit_events` row, given as its columns (no ORM object on the hot path)."""
        self._rows.put(row)

    def close(self) -> None:
        """Write what is queued and stop."""
        self._rows.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        """Wait for a row, let more gather for `linger` seconds, then take all there are: the
        thread wakes once per batch, not for every row (each wake-up took the GIL from the
        steps' event loop)."""
        running = True
        while running:
            rows = [self._rows.get()]
            if rows[0] is not None and self._rows.qsize() < self._batch:
                time.sleep(self._linger)
            while len(rows) < self._batch and rows[-1] is not None:
                try:
                    rows.append(self._rows.get_nowait())
                except queue.Empty:
                    break
            running = None not in rows
            self._write([row for row in rows if row is not None])

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(AuditEvent), rows)
        except Exception:  # an audit write must never fail the steps it audits
            log.exception("audit write of %d rows failed", len(rows))


class AuditInterceptor(Interceptor):
    """Wraps every activity: a histogram, a counter and an `audit_events` row per attempt."""

    def __init__(self, writer: AuditWriter) -> None:
        self._writer = writer

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AuditActivity(next, self._writer)


class _AuditActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, writer: AuditWriter) -> None:
        super().__init__(next)
        self._writer = writer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        started = time.monotonic()
        outcome, detail, code = "ok", "", ""
        message_ids = (getattr(arg, "message_id", "") for arg in input.args)
        MESSAGE_ID.set(next((m for m in message_ids if isinstance(m, str) and m), ""))
        try:
            return await self.next.execute_activity(input)
        except BaseException as error:
            code = str(error.type) if isinstance(error, ApplicationError) else type(error).__name__
            outcome, detail = "error", redact(f"{type(error).__name__}: {error}")[:500]
            raise
        finally:
            seconds = time.monotonic() - started
            STEP_SECONDS.labels(info.activity_type).observe(seconds)
            STEP_ATTEMPTS.labels(info.activity_type, outcome).inc()
            self._writer.add(
                {
                    "workflow_id": info.workflow_id or "",
                    "run_id": info.workflow_run_id or "",
                    "step": info.activity_type,
                    "attempt": info.attempt,
                    "outcome": outcome,
                    "duration_ms": round(seconds * 1000, 3),
                    "error_code": code or "",
                    "detail": detail,
                    "created_at": utcnow(),
                }
            )
