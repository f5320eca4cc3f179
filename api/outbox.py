"""The intake outbox: an accepted email is on disk before the answer; its run starts right after.

`POST .../run`, `POST /v1/emails` and the webhook answer 202 once the email is recorded, so a busy
or unreachable Temporal neither slows the answer down nor loses the email. A dispatcher starts
each recorded run, retries a failed start with backoff, and picks up what a crash left queued.
Starting is idempotent (one workflow id per Message-ID), so a start repeated by a second API
process or after a crash attaches to the run that exists.
"""

import asyncio
import functools
import logging
from datetime import timedelta

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, Executable, bindparam, exists, func, update
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError

from mail.send import Mailer
from models.db import bound, insert_or
from models.email import EmailEvent, workflow_id_for
from models.ingest import IngestedMessage, OutboxEntry, OutboxStatus, StartRefused
from models.masterdata import aware, utcnow
from models.runs import RunRecord, RunStatus, SubmitAnswer
from telemetry.metrics import EMAILS_INGESTED, INTAKE_QUEUED, OLDEST_QUEUED
from temporal_client import describe_duplicate, start_run

log = logging.getLogger(__name__)
STARTERS = 16  # runs being started at once
MAX_BACKOFF = 60.0
MARK_SECONDS = 0.2  # started runs are marked in the outbox together, this often


class Outbox:
    """Records accepted emails and starts their runs.

    `grace`: how long a new entry belongs to the process that accepted it before the sweep (of any
    API process) may start it too; `sweep_seconds`: how often queued entries are looked for;
    `backoff`: the wait after a failed start, doubled at each further failure (up to a minute).
    """

    def __init__(
        self,
        engine: Engine,
        client: Client,
        task_queue: str,
        grace: float = 10.0,
        sweep_seconds: float = 2.0,
        backoff: float = 2.0,
        mailer: Mailer | None = None,
    ) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue
        self._grace = timedelta(seconds=grace)
        self._sweep_seconds = sweep_seconds
        self._backoff = backoff
        self._mailer = mailer
        self._queue: asyncio.Queue[tuple[str, EmailEvent | None]] = asyncio.Queue()
        self._in_flight: set[str] = set()
        self._started: list[dict[str, str]] = []  # marked STARTED together: fewer write locks

    async def accept(self, event: EmailEvent) -> SubmitAnswer:
        """Record the email (its attachments already stored); the run starts in the background."""
        workflow_id = workflow_id_for(event.message_id)
        if not await run_in_threadpool(self._record, workflow_id, event):
            EMAILS_INGESTED.labels("http", "duplicate").inc()
            return await self._duplicate(workflow_id)
        EMAILS_INGESTED.labels("http", "accepted").inc()
        self._submit(workflow_id, event)
        return SubmitAnswer(
            workflow_id=workflow_id, run_id="", status=RunStatus.RUNNING, duplicate=False
        )

    async def run(self) -> None:
        """Start queued runs until cancelled: a few at a time, plus a periodic sweep."""
        helpers = [asyncio.create_task(self._starter()) for _ in range(STARTERS)]
        helpers.append(asyncio.create_task(self._marker()))
        try:
            await self._sweep()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await run_in_threadpool(self._mark_started)

    def entry(self, workflow_id: str) -> OutboxEntry | None:
        with Session(self._engine) as session:
            return session.get(OutboxEntry, workflow_id)

    def queued(self) -> int:
        """How many accepted emails wait for their run to start."""
        with Session(self._engine) as session:
            query = select(func.count()).where(OutboxEntry.status == OutboxStatus.QUEUED)
            return session.exec(query).one()

    def _record(self, workflow_id: str, event: EmailEvent) -> bool:
        """Insert the entry; False when this email was accepted before (here or from a mailbox).
        One statement, committed as it runs (`_unless_known`): on PostgreSQL a read, an insert
        and their transaction were five round trips with the pool's ping, now two."""
        entry = OutboxEntry(
            workflow_id=workflow_id, message_id=event.message_id, task_queue=self._task_queue,
            event=event.model_dump_json(), next_attempt_at=utcnow() + self._grace,
        ).model_dump()  # fmt: skip
        with self._engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            insert = _unless_known(connection.dialect.name, tuple(entry))
            return bool(connection.execute(insert, {**entry, "known": workflow_id}).rowcount)

    async def _duplicate(self, workflow_id: str) -> SubmitAnswer:
        """The answer for an email accepted before: the run's status as Temporal knows it (an entry
        may still read QUEUED for a moment after its run started), else as the database does."""
        try:
            return await describe_duplicate(self._client, workflow_id)
        except RPCError:  # not started yet, or no longer in Temporal
            entry, record = await run_in_threadpool(self._known, workflow_id)
        if record is not None:
            status, run_id = RunStatus(record.status), record.run_id
        else:
            status, run_id = RunStatus.RUNNING, entry.run_id if entry else ""
        return SubmitAnswer(workflow_id=workflow_id, run_id=run_id, status=status, duplicate=True)

    def _known(self, workflow_id: str) -> tuple[OutboxEntry | None, RunRecord | None]:
        with Session(self._engine) as session:
            return session.get(OutboxEntry, workflow_id), session.get(RunRecord, workflow_id)

    def _submit(self, workflow_id: str, event: EmailEvent | None) -> None:
        if workflow_id not in self._in_flight:
            self._in_flight.add(workflow_id)
            self._queue.put_nowait((workflow_id, event))

    async def _starter(self) -> None:
        while True:
            workflow_id, event = await self._queue.get()
            try:
                await self._start(workflow_id, event)
            except Exception:  # keep starting the others; the sweep retries this one
                log.exception("starting the run %s failed", workflow_id)
            finally:
                self._in_flight.discard(workflow_id)

    async def _start(self, workflow_id: str, event: EmailEvent | None) -> None:
        if event is None:
            entry = await run_in_threadpool(self.entry, workflow_id)
            if entry is None or entry.status != OutboxStatus.QUEUED:
                return
            event = EmailEvent.model_validate_json(entry.event)
        try:
            answer = await start_run(self._client, event, self._task_queue)
        except StartRefused as error:  # retrying cannot help: the email ends visibly
            log.error("the run %s was refused for good: %s", workflow_id, error)
            await run_in_threadpool(self._refused, workflow_id, event, str(error))
            return
        except Exception as error:  # Temporal busy or away: the email stays queued
            log.warning("starting the run %s failed, will retry: %s", workflow_id, error)
            await run_in_threadpool(self._retry_later, workflow_id, f"{error}")
            return
        self._started.append({"key": workflow_id, "new_run_id": answer.run_id})

    async def _marker(self) -> None:
        while True:
            await asyncio.sleep(MARK_SECONDS)
            try:
                await run_in_threadpool(self._mark_started)
            except Exception:  # not marked: the sweep will find these runs started already
                log.exception("marking started runs in the intake outbox failed")

    async def _sweep(self) -> None:
        while True:
            try:
                due, queued = await run_in_threadpool(self._due)
                INTAKE_QUEUED.set(queued)
                for workflow_id in due:
                    self._submit(workflow_id, None)
            except Exception:  # the database may be away for a moment: sweep again later
                log.exception("the intake outbox sweep failed")
            await asyncio.sleep(self._sweep_seconds)

    def _due(self) -> tuple[list[str], int]:
        with Session(self._engine) as session:
            query = (
                select(OutboxEntry.workflow_id)
                .where(OutboxEntry.status == OutboxStatus.QUEUED)
                .where(OutboxEntry.task_queue == self._task_queue)
                .where(OutboxEntry.next_attempt_at <= utcnow())
                .order_by(col(OutboxEntry.next_attempt_at))
                .limit(500)
            )
            due = list(session.exec(query))
            queued, oldest = session.exec(
                select(func.count(), func.min(OutboxEntry.created_at)).where(
                    OutboxEntry.status == OutboxStatus.QUEUED
                )
            ).one()
        OLDEST_QUEUED.set((utcnow() - aware(oldest)).total_seconds() if oldest else 0)
        return due, queued

    def _mark_started(self) -> None:
        """Mark the runs started since the last call, in one transaction (a lost mark is harmless:
        the sweep starts that run again, which attaches to the run that exists)."""
        started, self._started = self._started, []
        if not started:
            return
        with self._engine.begin() as connection:
            connection.execute(
                update(OutboxEntry)
                .where(col(OutboxEntry.workflow_id) == bindparam("key"))
                .values(
                    status=OutboxStatus.STARTED,
                    run_id=bindparam("new_run_id"),
                    event="",
                    updated_at=utcnow(),
                ),
                started,
            )

    def _refused(self, workflow_id: str, event: EmailEvent, error: str) -> None:
        """Mark the email FAILED with the reason, and tell the reviewers."""
        self._update(workflow_id, status=OutboxStatus.FAILED, last_error=error[:500], event="")
        if self._mailer is not None:
            self._mailer.tell_start_refused(workflow_id, event.subject, event.from_email, error)

    def _retry_later(self, workflow_id: str, error: str) -> None:
        entry = self.entry(workflow_id)
        attempts = (entry.attempts if entry else 0) + 1
        wait = timedelta(seconds=min(MAX_BACKOFF, self._backoff * 2 ** (attempts - 1)))
        self._update(
            workflow_id, attempts=attempts, last_error=error[:500], next_attempt_at=utcnow() + wait
        )

    def _update(self, workflow_id: str, **values: object) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(OutboxEntry)
                .where(col(OutboxEntry.workflow_id) == workflow_id)
                .values(updated_at=utcnow(), **values)
            )


@functools.cache
def _unless_known(dialect: str, columns: tuple[str, ...]) -> Executable:
    """INSERT ... SELECT ... WHERE NOT EXISTS (a mailbox took it: `known`) ON CONFLICT DO
    NOTHING, built once (`bound`); each entry's values go in as parameters."""
    values = bound(OutboxEntry, columns)
    mailbox = exists().where(col(IngestedMessage.workflow_id) == bindparam("known"))
    row = select(*values.values()).where(~mailbox)
    return insert_or(dialect, OutboxEntry).from_select(list(values), row).on_conflict_do_nothing()
