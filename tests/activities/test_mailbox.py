"""Mailbox intake against a real Dovecot: schedule, actions, dedupe, rotation, crashes, limits."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from imap_tools import AND, MailBoxUnencrypted
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.mailbox import MailboxActivities
from mail.ingest import Ingester
from mail.sources import Item, Source
from models.db import make_engine
from models.email import workflow_id_for
from models.ingest import IngestStatus, PollInput, PollResult
from models.runs import RunStatus, RunView
from sandbox.demo import contract_message, contract_pdf, raw_contract_email
from sandbox.dovecot import Imap
from settings import MailboxConfig, Settings
from storage.blobs import BlobStore
from temporal_client import PREFIX, blocking_starter, sync_schedules
from tests.helpers import running_worker


def configure(settings: Settings, imap: Imap, **mailbox: Any) -> Settings:
    """Settings with one mailbox of a fresh IMAP user (every user has its own empty maildir)."""
    name = f"m{uuid.uuid4().hex[:8]}"
    config = MailboxConfig(
        name=name, host=imap.host, port=imap.port, tls=False, user=f"{name}@mcs.example",
        password=imap.password, poll_seconds=1, **mailbox,
    )  # fmt: skip
    return settings.model_copy(update={"mailboxes": [config], "task_queue": f"mb-{name}"})


def imap_box(settings: Settings) -> MailBoxUnencrypted:
    config = settings.mailboxes[0]
    return MailBoxUnencrypted(config.host, config.port, timeout=10).login(
        config.user, config.password, initial_folder=None
    )


def ingester(settings: Settings, client: Client) -> Ingester:
    engine = make_engine(settings.db_url)
    store = BlobStore(settings.blob_dir)
    start = blocking_starter(client, asyncio.get_running_loop(), settings.task_queue)
    return Ingester(engine, store, start, settings)


async def poll(
    settings: Settings, client: Client, activities: MailboxActivities | None = None
) -> PollResult:
    """One poll, run as the worker runs it: in a thread, through the activity environment."""
    activities = activities or MailboxActivities(settings, ingester(settings, client))
    run = ActivityEnvironment().run
    mailbox = PollInput(mailbox=settings.mailboxes[0].name)
    result: PollResult = await asyncio.to_thread(run, activities.poll_mailbox, mailbox)
    return result


def mailboxes(changes: dict[str, str]) -> dict[str, str]:
    """The changes to mailbox schedules (the blob retention's is synced alongside)."""
    return {k: v for k, v in changes.items() if k.startswith(PREFIX)}


@pytest_asyncio.fixture(loop_scope="session")
async def schedule_worker(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment, api_url: str
) -> AsyncIterator[Settings]:
    configured = configure(settings, imap, folder="INBOX", after="move:Processed")
    async with running_worker(dev_env.client, configured):
        yield configured
        removed = await sync_schedules(
            dev_env.client, configured.model_copy(update={"mailboxes": []})
        )
        assert mailboxes(removed) == {f"{PREFIX}{configured.mailboxes[0].name}": "deleted"}


async def test_schedule_picks_up_new_mail_and_moves_it(
    schedule_worker: Settings, dev_env: WorkflowEnvironment
) -> None:
    changes = mailboxes(await sync_schedules(dev_env.client, schedule_worker))
    assert list(changes.values()) == ["created"]
    again = mailboxes(await sync_schedules(dev_env.client, schedule_worker))
    assert list(again.values()) == ["updated"]
    message_id = f"<{uuid.uuid4()}@huadong.example>"
    with imap_box(schedule_worker) as box:
        box.append(contract_message(message_id), "INBOX")
    handle = dev_env.client.get_workflow_handle(workflow_id_for(message_id), result_type=RunView)
    for _ in range(200):
        try:
            result = await handle.result()
            break
        except Exception:
            await asyncio.sleep(0.1)
    assert result.status == RunStatus.SUCCESS
    with imap_box(schedule_worker) as box:
        box.folder.set("INBOX")
        assert box.uids() == []
        box.folder.set("Processed")
        assert len(box.uids()) == 1
    assert result.message_id == message_id


async def test_seen_and_keyword_actions_mark_the_message(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    for after, flag in (("seen", "\\Seen"), ("keyword:$MCSIngested", "$MCSIngested")):
        configured = configure(settings, imap, after=after)
        with imap_box(configured) as box:
            box.append(contract_message(f"<{uuid.uuid4()}@x.example>"), "INBOX")
        result = await poll(configured, dev_env.client)
        assert (result.seen, result.started) == (1, 1)
        with imap_box(configured) as box:
            box.folder.set("INBOX")
            [message] = list(box.fetch(AND(all=True), mark_seen=False))
            assert flag in message.flags
        again = await poll(configured, dev_env.client)
        assert again.seen == 0  # nothing new: the UID position was stored


async def test_message_without_message_id_and_its_upload_give_one_run(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    from api.main import create_app  # the upload path, through the same parser

    configured = configure(settings, imap)
    raw = contract_message(message_id=None, pdf=contract_pdf(f"HT-{uuid.uuid4().hex[:6]}"))
    with imap_box(configured) as box:
        box.append(raw, "INBOX")  # Dovecot adds no Message-ID
    result = await poll(configured, dev_env.client)
    assert result.started == 1
    [row] = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    assert row.message_id.endswith("@mcs.generated") and row.status == IngestStatus.DONE
    app = create_app(configured, dev_env.client)
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            answer = await api.post(
                "/v1/emails", content=raw,
                headers={"Content-Type": "message/rfc822", "X-API-Key": "test-key"},
            )  # fmt: skip
    assert answer.status_code == 202
    assert answer.json()["duplicate"] is True
    assert answer.json()["workflow_id"] == row.workflow_id


async def test_uidvalidity_rotation_does_not_ingest_again(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, imap, folder="Contracts")
    old = contract_message(f"<{uuid.uuid4()}@x.example>")
    with imap_box(configured) as box:
        box.folder.create("Contracts")
        box.append(old, "Contracts")
    first = await poll(configured, dev_env.client)
    with imap_box(configured) as box:
        box.folder.delete("Contracts")
        box.folder.create("Contracts")  # a new UIDVALIDITY, UIDs start again at 1
        box.append(old, "Contracts")
        box.append(contract_message(f"<{uuid.uuid4()}@x.example>"), "Contracts")
    second = await poll(configured, dev_env.client)
    assert second.uidvalidity != first.uidvalidity
    assert (first.started, second.seen, second.duplicates, second.started) == (1, 2, 1, 1)


class CrashBeforeMark(MailboxActivities):
    """Dies after the run was started and before the mailbox action (mark read, move, delete),
    as a killed worker would."""

    def _mark(self, source: Source, item: Item) -> None:
        raise ConnectionResetError("worker killed")


async def test_crash_between_start_and_action_neither_loses_nor_repeats(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, imap)
    message_id = f"<{uuid.uuid4()}@x.example>"
    with imap_box(configured) as box:
        box.append(contract_message(message_id), "INBOX")
    crashing = CrashBeforeMark(configured, ingester(configured, dev_env.client))
    try:
        await poll(configured, dev_env.client, crashing)
        raise AssertionError("the poll should have crashed")
    except ConnectionResetError:
        pass
    [row] = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    assert row.status == IngestStatus.STARTED
    first_run = (await dev_env.client.get_workflow_handle(row.workflow_id).describe()).run_id
    result = await poll(configured, dev_env.client)
    assert (result.seen, result.started, result.duplicates) == (1, 0, 1)
    [row] = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    assert row.status == IngestStatus.DONE
    assert (
        await dev_env.client.get_workflow_handle(row.workflow_id).describe()
    ).run_id == first_run
    with imap_box(configured) as box:
        box.folder.set("INBOX")
        assert "\\Seen" in next(iter(box.fetch(AND(all=True), mark_seen=False))).flags


async def test_oversize_message_is_rejected_once_with_a_reason(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, imap).model_copy(update={"max_attachment_bytes": 20_000})
    big = contract_message(
        f"<{uuid.uuid4()}@x.example>", pdf=contract_pdf("HT-BIG", pad_to=1_200_000)
    )
    with imap_box(configured) as box:
        box.append(big, "INBOX")
    first = await poll(configured, dev_env.client)
    second = await poll(configured, dev_env.client)
    assert (first.rejected, first.started, second.seen) == (1, 0, 0)
    [row] = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    assert row.status == IngestStatus.REJECTED and "over the limit" in row.reason


async def test_hostile_messages_are_quarantined_and_the_mail_after_them_is_taken(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    from sandbox.hostile import deep_nesting, many_parts

    configured = configure(settings, imap).model_copy(update={"mailbox_quarantine": "Quarantine"})
    good = contract_message(f"<{uuid.uuid4()}@x.example>")
    with imap_box(configured) as box:
        for raw in (deep_nesting(), many_parts(), good):
            box.append(raw, "INBOX")
    first = await poll(configured, dev_env.client)
    second = await poll(configured, dev_env.client)
    assert (first.seen, first.rejected, first.started, second.seen) == (3, 2, 1, 0)
    rows = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    reasons = sorted(r.reason for r in rows if r.status == IngestStatus.REJECTED)
    assert reasons == ["unreadable: MIME nesting is deeper than 20 levels",
                       "unreadable: more than 100 attachments"]  # fmt: skip
    with imap_box(configured) as box:
        box.folder.set("Quarantine")
        assert len(list(box.fetch(AND(all=True), mark_seen=False, headers_only=True))) == 2


async def test_a_mail_slow_to_parse_is_cut_off_quarantined_and_the_poll_goes_on(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 parts of 30 KB Content-Type parameters: some 15 s of parsing. Parsed within a budget
    of 1 s here, it is REJECTED (PARSE_TIMEOUT) and quarantined, and the next mail is taken."""
    from mail import budget
    from sandbox.hostile import slow_parameters

    monkeypatch.setattr(budget, "PARSE_SECONDS", 1.0)
    configured = configure(settings, imap).model_copy(update={"mailbox_quarantine": "Quarantine"})
    with imap_box(configured) as box:
        box.append(slow_parameters(), "INBOX")
        box.append(contract_message(f"<{uuid.uuid4()}@x.example>"), "INBOX")
    started = time.monotonic()
    first = await poll(configured, dev_env.client)
    assert (first.seen, first.rejected, first.started) == (2, 1, 1)
    assert time.monotonic() - started < 10
    rows = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    [slow] = [r for r in rows if r.status == IngestStatus.REJECTED]
    assert "PARSE_TIMEOUT" in slow.reason
    with imap_box(configured) as box:
        box.folder.set("Quarantine")
        assert len(list(box.fetch(AND(all=True), mark_seen=False, headers_only=True))) == 1


async def test_a_start_refused_for_good_rejects_the_message_and_the_poll_goes_on(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    from models.ingest import StartRefused
    from models.runs import SubmitAnswer

    configured = configure(settings, imap)
    real = blocking_starter(dev_env.client, asyncio.get_running_loop(), configured.task_queue)

    def start(event: Any) -> SubmitAnswer:  # Temporal refuses the first message only
        if "refused" in event.subject:
            raise StartRefused("INVALID_ARGUMENT: Blob data size exceeds limit")
        return real(event)

    engine = make_engine(configured.db_url)
    activities = MailboxActivities(
        configured, Ingester(engine, BlobStore(configured.blob_dir), start, configured)
    )
    with imap_box(configured) as box:
        box.append(raw_contract_email(f"<{uuid.uuid4()}@x>", subject="采购合同 refused"), "INBOX")
        box.append(contract_message(f"<{uuid.uuid4()}@x.example>"), "INBOX")
    result = await poll(configured, dev_env.client, activities)
    assert (result.seen, result.rejected, result.started) == (2, 1, 1)
    rows = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    [refused] = [r for r in rows if r.status == IngestStatus.REJECTED]
    assert refused.reason.startswith("the run was refused: INVALID_ARGUMENT")


async def test_two_workers_starting_at_once_both_sync_the_schedules(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment
) -> None:
    """Both see no schedule and create it: the second updates the one the first created
    (it raised ScheduleAlreadyRunningError and the worker died at its start)."""
    configured = configure(settings, imap)
    first, second = await asyncio.gather(
        sync_schedules(dev_env.client, configured), sync_schedules(dev_env.client, configured)
    )
    name = f"{PREFIX}{configured.mailboxes[0].name}"
    assert sorted([first[name], second[name]]) == ["created", "updated"]
    await sync_schedules(dev_env.client, configured.model_copy(update={"mailboxes": []}))
