"""The intake outbox: an accepted email is recorded first, and its run starts even if Temporal
refuses for a while or the API stops between the answer and the start."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import (
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowExecutionDescription,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.outbox import Outbox
from api.runs import QUEUED_STEP, read_run
from models.codec import PLAIN_CONVERTER
from models.db import make_engine
from models.email import EmailEvent, workflow_id_for
from models.ingest import IngestedMessage, OutboxEntry, OutboxStatus
from models.migrate import upgrade
from models.runs import RunRecord, RunStatus
from sandbox.demo import make_email, unmatched_filename
from sandbox.postgres import create_database
from settings import Settings
from temporal_client import accepted_result
from tests.helpers import by_reference, open_api

RUNS = "/v1/orchestrations/sales-email/runs"


class Faults(Interceptor):
    """Temporal answering UNAVAILABLE to the next `refused_starts` workflow starts, and "not
    found" to the next `missed_describes` describes (as when a run starts, and the outbox marks it
    started, between that answer and the reader's look at the database)."""

    def __init__(self, refused_starts: int = 0, missed_describes: int = 0) -> None:
        self.refused_starts = refused_starts
        self.missed_describes = missed_describes

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Faulty(next, self)


class _Faulty(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, faults: Faults) -> None:
        super().__init__(next)
        self._faults = faults

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        if self._faults.refused_starts > 0:
            self._faults.refused_starts -= 1
            raise RPCError("Temporal is unavailable (injected)", RPCStatusCode.UNAVAILABLE, b"")
        return await super().start_workflow(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        if self._faults.missed_describes > 0:
            self._faults.missed_describes -= 1
            raise RPCError("workflow not found (injected)", RPCStatusCode.NOT_FOUND, b"")
        return await super().describe_workflow(input)


def refusing_client(env: WorkflowEnvironment, times: int) -> Client:
    return intercepted(env, Faults(refused_starts=times))


def intercepted(env: WorkflowEnvironment, interceptor: Interceptor) -> Client:
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=PLAIN_CONVERTER,
        interceptors=[interceptor],
    )


async def started(engine: Engine, workflow_id: str) -> OutboxEntry:
    """The outbox entry once it is marked STARTED (started runs are marked a moment later)."""
    entry = None
    for _ in range(100):
        with Session(engine) as session:
            entry = session.get(OutboxEntry, workflow_id)
        if entry is not None and entry.status == OutboxStatus.STARTED:
            break
        await asyncio.sleep(0.05)
    assert entry is not None and entry.status == OutboxStatus.STARTED
    return entry


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, dev_settings: Settings) -> AsyncIterator[Engine]:
    """The outbox's database: the API's SQLite file, or a fresh PostgreSQL database."""
    url = dev_settings.db_url
    if request.param == "postgresql":
        url = create_database(request.getfixturevalue("postgres"), f"outbox_{uuid.uuid4().hex[:8]}")
        upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def unique_email(settings: Settings) -> EmailEvent:
    return by_reference(make_email(message_id=f"<outbox-{uuid.uuid4()}@test>"), settings)


async def test_a_refused_start_is_retried_and_visible_meanwhile(
    dev_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    body = make_email(message_id=f"<outbox-{uuid.uuid4()}@test>")
    async for api in open_api(dev_settings, dev_env, refusing_client(dev_env, times=1)):
        answer = await api.post(
            "/v1/orchestrations/sales-email/run",
            json=body.model_dump(mode="json", by_alias=True),
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["run_id"] == "" and answer.json()["duplicate"] is False
        workflow_id = answer.json()["workflow_id"]
        run: dict[str, Any] = {}
        for _ in range(100):  # the refusal shows while the email waits for its retry
            run = (await api.get(f"{RUNS}/{workflow_id}")).json()
            if run["warnings"]:
                break
            await asyncio.sleep(0.02)
        assert run["status"] == "RUNNING" and run["step"] == QUEUED_STEP
        assert "Temporal is unavailable (injected)" in run["warnings"][0]
        assert (await api.get("/v1/healthz")).json()["queued"] >= 1
        listed = (await api.get(RUNS, params={"status": "RUNNING"})).json()
        assert [r["step"] for r in listed if r["workflow_id"] == workflow_id] == [QUEUED_STEP]
        result = await accepted_result(dev_env.client, workflow_id)  # the retry started it
    assert result.status == RunStatus.SUCCESS


async def test_an_email_left_queued_by_a_crash_is_started_by_the_next_process(
    dev_settings: Settings, dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    crashed = Outbox(engine, dev_env.client, dev_settings.task_queue, grace=0)
    email = unique_email(dev_settings)
    answer = await crashed.accept(email)  # no dispatcher runs: the process "crashes" here
    assert answer.run_id == "" and not answer.duplicate
    duplicate = await crashed.accept(email)
    assert duplicate.duplicate and duplicate.workflow_id == answer.workflow_id
    assert duplicate.run_id == "" and duplicate.status == RunStatus.RUNNING

    restarted = Outbox(engine, dev_env.client, dev_settings.task_queue, grace=0, sweep_seconds=0.1)
    dispatcher = asyncio.create_task(restarted.run())
    try:
        result = await accepted_result(dev_env.client, answer.workflow_id)
    finally:
        dispatcher.cancel()
        await asyncio.gather(dispatcher, return_exceptions=True)
    assert result.status == RunStatus.SUCCESS
    entry = await started(engine, answer.workflow_id)
    assert entry.run_id == result.run_id and entry.event == ""  # no email kept once started
    resubmitted = await restarted.accept(email)
    assert resubmitted.duplicate and resubmitted.status == RunStatus.SUCCESS
    assert resubmitted.run_id == result.run_id


async def test_a_start_refused_for_good_ends_the_email_failed_and_tells_the_reviewers(
    api: Any, sims: Any
) -> None:
    """An email bigger than a Temporal payload may be (2 MB): its start is refused for good
    (INVALID_ARGUMENT), so it is not retried forever but shown FAILED, with a mail."""
    from tests.helpers import finished, mails_to

    email = make_email().model_dump(mode="json", by_alias=True)
    email["body_text"] = email["body_html"] = "合同" * 128_000  # 768 KB each in UTF-8
    for field in ("to", "cc"):  # as many and as long as an address may be: 620 KB more
        email[field] = [f"r{n:04d}-{'x' * 290}@sales.example" for n in range(1000)]
    answer = await api.post("/v1/orchestrations/sales-email/run", json=email)
    assert answer.status_code == 202, answer.text
    run = await finished(api, answer.json()["workflow_id"], seconds=20)
    assert run["status"] == "FAILED", run
    [error] = run["errors"]
    assert error["code"] == "START_REFUSED" and "INVALID_ARGUMENT" in error["message"]
    assert (await api.get("/v1/healthz")).json()["queued"] == 0  # not retried forever
    for _ in range(50):
        if any("could not be processed" in s for s in mails_to(sims, "sales-ops@localhost")):
            break
        await asyncio.sleep(0.1)
    assert any("could not be processed" in s for s in mails_to(sims, "sales-ops@localhost"))


async def test_a_run_started_while_it_is_read_is_found(
    dev_settings: Settings, dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    """Temporal did not know the run yet, and by the time the outbox is read its entry says
    STARTED: the reader asks Temporal again rather than answering "no run" (a 404 seen in CI).
    The run waits for a review, so no finished-run record can answer instead."""
    outbox = Outbox(engine, dev_env.client, dev_settings.task_queue, grace=0, sweep_seconds=0.1)
    email = make_email(filename=unmatched_filename(), message_id=f"<late-{uuid.uuid4()}@test>")
    answer = await outbox.accept(by_reference(email, dev_settings))
    dispatcher = asyncio.create_task(outbox.run())
    try:
        await started(engine, answer.workflow_id)
    finally:
        dispatcher.cancel()
        await asyncio.gather(dispatcher, return_exceptions=True)
    late = Faults(missed_describes=1)
    with Session(engine) as session:
        assert session.get(RunRecord, answer.workflow_id) is None
        run = await read_run(intercepted(dev_env, late), session, answer.workflow_id)
    assert late.missed_describes == 0  # the first describe was answered "not found"
    assert run is not None and run.workflow_id == answer.workflow_id
    assert run.status in (RunStatus.RUNNING, RunStatus.MANUAL_REVIEW)


async def test_an_email_a_mailbox_took_is_a_duplicate_over_http(
    dev_settings: Settings, dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    """The same email taken from a mailbox first: accepted over HTTP it is a duplicate, and no
    outbox entry (a second run) is recorded; another email still is."""
    email = unique_email(dev_settings)
    taken = workflow_id_for(email.message_id)
    with Session(engine) as session:
        session.add(
            IngestedMessage(
                mailbox="sales", folder="INBOX", uidvalidity=1, uid=1,
                content_sha256=uuid.uuid4().hex, message_id=email.message_id, workflow_id=taken,
            )
        )  # fmt: skip
        session.commit()
    outbox = Outbox(engine, dev_env.client, dev_settings.task_queue)
    answer = await outbox.accept(email)
    assert answer.duplicate and answer.workflow_id == taken
    other = await outbox.accept(unique_email(dev_settings))
    assert not other.duplicate
    with Session(engine) as session:
        assert session.get(OutboxEntry, taken) is None
        assert session.get(OutboxEntry, other.workflow_id) is not None
