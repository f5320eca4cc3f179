"""POP3 intake against Dovecot's POP3 (dovecot-pop3d): `keep` never repeats a mail, `delete`
removes only what was handled, a restart or a crash repeats nothing, hostile mail stays put."""

import uuid
from typing import Any

import pytest
from imap_tools import MailBoxUnencrypted
from temporalio.testing import WorkflowEnvironment

from activities.mailbox import MailboxActivities
from models.ingest import IngestStatus
from sandbox.demo import contract_message, reply_message
from sandbox.dovecot import Imap
from settings import MailboxConfig, Settings
from tests.activities.test_mailbox import CrashBeforeMark, ingester, poll
from tests.helpers import missing


def configure(settings: Settings, imap: Imap, **mailbox: Any) -> Settings:
    """Settings with one POP3 mailbox of a fresh user (its own empty maildir)."""
    if not imap.pop3_port:
        missing("Dovecot has no POP3 (apt-get install dovecot-pop3d)")
    name = f"p{uuid.uuid4().hex[:8]}"
    config = MailboxConfig(
        name=name, provider="pop3", host=imap.host, port=imap.pop3_port, tls=False,
        user=f"{name}@mcs.example", password=imap.password, poll_seconds=1, **mailbox,
    )  # fmt: skip
    return settings.model_copy(update={"mailboxes": [config], "task_queue": f"pop-{name}"})


def deliver(settings: Settings, imap: Imap, *messages: bytes) -> None:
    """Put messages in the user's INBOX (the POP3 maildrop), through IMAP."""
    config = settings.mailboxes[0]
    with MailBoxUnencrypted(imap.host, imap.port, timeout=10).login(
        config.user, config.password, initial_folder=None
    ) as box:
        for raw in messages:
            box.append(raw, "INBOX")


def on_server(settings: Settings, imap: Imap) -> int:
    config = settings.mailboxes[0]
    with MailBoxUnencrypted(imap.host, imap.port, timeout=10).login(
        config.user, config.password, initial_folder="INBOX"
    ) as box:
        return len(box.uids())


def mail() -> bytes:
    return contract_message(f"<{uuid.uuid4()}@huadong.example>")


async def test_keep_takes_each_mail_once_across_polls_and_restarts(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment, api_url: str
) -> None:
    configured = configure(settings, imap, after="keep")
    deliver(configured, imap, mail(), reply_message())
    first = await poll(configured, dev_env.client)
    rows = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    assert (first.seen, first.started, first.rejected) == (2, 2, 0), [r.reason for r in rows]
    again = await poll(configured, dev_env.client)  # the same worker
    restarted = await poll(  # a new worker: nothing in memory, only what was recorded
        configured,
        dev_env.client,
        MailboxActivities(configured, ingester(configured, dev_env.client)),
    )
    assert (again.seen, restarted.seen) == (0, 0)
    assert on_server(configured, imap) == 2  # kept
    deliver(configured, imap, mail())
    later = await poll(configured, dev_env.client)
    assert (later.seen, later.started) == (1, 1)  # only the new one
    rows = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    assert len(rows) == 3 and {r.status for r in rows} == {IngestStatus.DONE}
    assert all(r.item_id for r in rows) and len({r.item_id for r in rows}) == 3  # by UIDL


async def test_delete_removes_handled_mail_and_a_crash_repeats_nothing(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment, api_url: str
) -> None:
    configured = configure(settings, imap, after="delete")
    deliver(configured, imap, mail())
    crashing = CrashBeforeMark(configured, ingester(configured, dev_env.client))
    with pytest.raises(ConnectionResetError):
        await poll(configured, dev_env.client, crashing)
    assert on_server(configured, imap) == 1  # no QUIT: nothing deleted
    [row] = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    assert row.status == IngestStatus.STARTED
    first_run = (await dev_env.client.get_workflow_handle(row.workflow_id).describe()).run_id
    result = await poll(configured, dev_env.client)
    assert (result.seen, result.started, result.duplicates) == (1, 0, 1)  # the same run
    assert (
        await dev_env.client.get_workflow_handle(row.workflow_id).describe()
    ).run_id == first_run
    assert on_server(configured, imap) == 0
    deliver(configured, imap, mail(), mail())
    both = await poll(configured, dev_env.client)
    assert (both.seen, both.started) == (2, 2) and on_server(configured, imap) == 0


async def test_hostile_mail_stays_on_the_server_and_is_not_taken_again(
    settings: Settings, imap: Imap, dev_env: WorkflowEnvironment, api_url: str
) -> None:
    from sandbox.hostile import deep_nesting

    configured = configure(settings, imap, after="delete")
    deliver(configured, imap, deep_nesting(), mail())
    first = await poll(configured, dev_env.client)
    second = await poll(configured, dev_env.client)
    assert (first.seen, first.rejected, first.started, second.seen) == (2, 1, 1, 0)
    assert on_server(configured, imap) == 1  # for a person to look at
    rows = ingester(configured, dev_env.client).messages(configured.mailboxes[0].name)
    [hostile] = [r for r in rows if r.status == IngestStatus.REJECTED]
    assert "nesting" in hostile.reason


def test_pop3_settings_are_checked() -> None:
    base = {"name": "p", "provider": "pop3", "host": "mail.example", "user": "u", "password": "x"}
    assert MailboxConfig.model_validate(base).port == 995
    assert MailboxConfig.model_validate({**base, "tls": False}).port == 110
    assert MailboxConfig.model_validate(base).after == "keep"
    with pytest.raises(ValueError, match="after 'seen' is not one of delete, keep for pop3"):
        MailboxConfig.model_validate({**base, "after": "seen"})
    plain = Settings(env="production", mailboxes=[{**base, "tls": False}])
    assert "mailbox p: credentials over plain-text POP3" in plain.production_problems()
