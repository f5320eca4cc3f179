"""Microsoft 365 intake through the Graph simulator (sandbox/graph.py, real HTTP): runs through the
schedule and a real worker, delta pages and delta links, crashes, throttling, expired tokens and
links, and change notifications with their validation handshake and clientState."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.mailbox import MailboxActivities
from api.main import create_app
from devstack import free_port, listen, serve
from mail.graph import client_state
from models.email import workflow_id_for
from models.ingest import IngestedMessage, IngestStatus
from models.runs import RunStatus, RunView
from sandbox.demo import contract_message, contract_pdf, reply_message
from sandbox.graph import GraphSim, expires_soon
from sandbox.graph import create_app as graph_app
from sandbox.hostile import deep_nesting
from settings import MailboxConfig, Settings
from temporal_client import PREFIX, sync_schedules
from tests.activities.test_mailbox import CrashBeforeMark, ingester, poll
from tests.helpers import running_worker


@pytest_asyncio.fixture(loop_scope="session")
async def graph(masterdata: None) -> AsyncIterator[GraphSim]:
    """The simulator, on a migrated database (the polls record into it)."""
    sim = GraphSim()
    async with serve(graph_app(sim), free_port()) as url:
        sim.url = url
        yield sim


def configure(settings: Settings, graph: GraphSim, **mailbox: Any) -> Settings:
    """Settings with one Graph mailbox of a fresh user (its own empty mailbox in the simulator)."""
    name = f"g{uuid.uuid4().hex[:8]}"
    config = MailboxConfig(
        name=name, provider="graph", tenant_id="contoso", client_id=graph.client_id,
        client_secret=graph.client_secret, user=f"{name}@contoso.example",
        graph_url=f"{graph.url}/v1.0", token_url=f"{graph.url}/{{tenant_id}}/oauth2/v2.0/token",
        **({"poll_seconds": 1} | mailbox),
    )  # fmt: skip
    return settings.model_copy(update={"mailboxes": [config], "task_queue": f"g-{name}"})


def user(settings: Settings) -> str:
    return settings.mailboxes[0].user


def mail() -> tuple[str, bytes]:
    message_id = f"<{uuid.uuid4()}@huadong.example>"
    return message_id, contract_message(message_id)


def rows(settings: Settings, client: Client) -> list[IngestedMessage]:
    return ingester(settings, client).messages(settings.mailboxes[0].name)


async def until(check: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not in time")
        await asyncio.sleep(0.1)


async def result_of(client: Client, message_id: str) -> RunView:
    handle = client.get_workflow_handle(workflow_id_for(message_id), result_type=RunView)
    for _ in range(200):
        try:
            result: RunView = await handle.result()
            return result
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError(f"no result for {message_id}")


async def test_runs_through_the_schedule_one_quarantine_and_a_later_mail(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment, api_url: str
) -> None:
    configured = configure(settings, graph, after="move:Processed").model_copy(
        update={"mailbox_quarantine": "Quarantine"}
    )
    contract_id, contract = mail()
    reply_id = f"<{uuid.uuid4()}@huadong.example>"
    for raw in (contract, reply_message(reply_id), deep_nesting()):
        graph.add(user(configured), raw)
    async with running_worker(dev_env.client, configured):
        await sync_schedules(dev_env.client, configured)
        try:
            await until(lambda: len(rows(configured, dev_env.client)) == 3)
            assert (await result_of(dev_env.client, contract_id)).status == RunStatus.SUCCESS
            assert (await result_of(dev_env.client, reply_id)).status == RunStatus.IGNORED
            later_id, later = mail()
            graph.add(user(configured), later)
            await until(lambda: len(rows(configured, dev_env.client)) == 4)
            assert (await result_of(dev_env.client, later_id)).status == RunStatus.SUCCESS
            await asyncio.sleep(1.5)  # more polls: nothing new
        finally:
            await sync_schedules(dev_env.client, configured.model_copy(update={"mailboxes": []}))
    recorded = rows(configured, dev_env.client)
    assert len(recorded) == 4 and len({r.workflow_id for r in recorded if r.workflow_id}) == 3
    assert sorted(r.status for r in recorded) == ["DONE", "DONE", "DONE", "REJECTED"]
    box = graph.box(user(configured))
    named = {folder_id: name for folder_id, name in box.folders.items()}
    where = sorted(named[m.folder] for m in box.messages.values())
    assert where == ["Processed", "Processed", "Processed", "Quarantine"]


async def test_an_oversized_message_is_rejected_without_being_held_whole(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, graph).model_copy(
        update={"max_attachment_bytes": 20_000, "mailbox_quarantine": "Quarantine"}
    )
    big = contract_message(
        f"<{uuid.uuid4()}@x.example>", pdf=contract_pdf("HT-BIG", pad_to=1_200_000)
    )
    graph.add(user(configured), big)
    first = await poll(configured, dev_env.client)
    second = await poll(configured, dev_env.client)
    assert (first.rejected, first.started, second.seen) == (1, 0, 0)
    [row] = rows(configured, dev_env.client)
    assert row.status == IngestStatus.REJECTED and "over the limit" in row.reason
    box = graph.box(user(configured))
    [message] = box.messages.values()
    assert box.folders[message.folder] == "Quarantine"


async def test_a_worker_killed_mid_poll_repeats_nothing(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, graph)
    first_id, first = mail()
    graph.add(user(configured), first)
    graph.add(user(configured), mail()[1])
    crashing = CrashBeforeMark(configured, ingester(configured, dev_env.client))
    with pytest.raises(ConnectionResetError):
        await poll(configured, dev_env.client, crashing)
    [row] = rows(configured, dev_env.client)
    assert row.status == IngestStatus.STARTED
    first_run = (await dev_env.client.get_workflow_handle(row.workflow_id).describe()).run_id
    restarted = MailboxActivities(configured, ingester(configured, dev_env.client))
    after = await poll(configured, dev_env.client, restarted)
    assert (after.seen, after.started, after.duplicates) == (2, 1, 1)
    handle = dev_env.client.get_workflow_handle(workflow_id_for(first_id))
    assert (await handle.describe()).run_id == first_run  # the same run, not a second
    assert (await poll(configured, dev_env.client, restarted)).seen == 0
    assert all(m.is_read for m in graph.box(user(configured)).messages.values())


async def test_a_paged_delta_loses_nothing_and_a_fresh_delta_repeats_nothing(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, graph)
    for _ in range(5):
        graph.add(user(configured), mail()[1])
    graph.page_cap = 2  # 3 pages
    before = len(graph.requests)
    try:
        first = await poll(configured, dev_env.client)
    finally:
        graph.page_cap = 0
    pages = [r for r in graph.requests[before:] if r.endswith("/messages/delta")]
    assert len(pages) == 3 and (first.seen, first.started) == (5, 5)
    graph.expire_delta_links()  # 410 syncStateNotFound: a fresh delta lists all five again
    graph.add(user(configured), mail()[1])
    second = await poll(configured, dev_env.client)
    assert (second.seen, second.started) == (1, 1)
    assert len(rows(configured, dev_env.client)) == 6


async def test_a_link_expiring_in_the_middle_of_a_listing_loses_nothing(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, graph)
    graph.add(user(configured), mail()[1])
    assert (await poll(configured, dev_env.client)).started == 1  # the delta link is kept
    for _ in range(3):
        graph.add(user(configured), mail()[1])
    # page 1 (the first mail, read since, and a new one), then every link is gone (410)
    graph.page_cap, graph.expire_after = 2, 1
    try:
        result = await poll(configured, dev_env.client)
    finally:
        graph.page_cap, graph.expire_after = 0, 0
    assert (result.seen, result.started) == (3, 3)  # the fresh delta: all but the one recorded
    assert (await poll(configured, dev_env.client)).seen == 0


async def test_throttling_is_waited_out_and_an_expired_token_renewed(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, graph)
    graph.add(user(configured), mail()[1])
    graph.throttle(2, retry_after=1.0)
    started = time.monotonic()
    result = await poll(configured, dev_env.client)
    assert time.monotonic() - started >= 1.9  # both Retry-After waited
    assert (result.seen, result.started) == (1, 1)
    graph.throttle(1, retry_after=0.1, status=503)
    graph.tokens.clear()  # every token MCS holds is refused now: 401, renewed once
    graph.add(user(configured), mail()[1])
    assert (await poll(configured, dev_env.client)).started == 1


async def test_links_to_another_host_are_refused(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    """A server (or a man in the middle) that pages to another host gets no token there."""
    configured = configure(settings, graph)
    for _ in range(3):
        graph.add(user(configured), mail()[1])
    graph.page_cap, graph.link_base = 2, "http://127.0.0.2:9"
    try:
        with pytest.raises(Exception, match="Graph gave a link to another host: '127.0.0.2:9'"):
            await poll(configured, dev_env.client)
    finally:
        graph.page_cap, graph.link_base = 0, ""
    assert rows(configured, dev_env.client) == []  # nothing taken from a half-read listing
    assert (await poll(configured, dev_env.client)).started == 3


async def test_a_wrong_secret_gets_no_token_and_a_clear_error(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    configured = configure(settings, graph)
    wrong = configured.mailboxes[0].model_copy(update={"client_secret": "not-it", "client_id": "x"})
    broken = configured.model_copy(update={"mailboxes": [wrong]})
    with pytest.raises(Exception, match="no token \\(401\\).*Invalid client secret"):
        await poll(broken, dev_env.client)


async def test_notifications_trigger_the_poll_and_a_wrong_client_state_is_refused(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment
) -> None:
    sock = listen(0)
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    configured = configure(settings, graph, notify=True, poll_seconds=3600).model_copy(
        update={"public_base_url": public}
    )
    name = configured.mailboxes[0].name
    hook = f"/v1/webhooks/graph/{name}"
    async with (
        serve(create_app(configured, dev_env.client), sock) as api,
        running_worker(dev_env.client, configured),
        httpx.AsyncClient(base_url=api) as http,
    ):
        await sync_schedules(dev_env.client, configured)
        try:
            echoed = await http.post(hook, params={"validationToken": "a <b>&c"})
            assert echoed.status_code == 200 and echoed.text == "a <b>&c"
            assert echoed.headers["content-type"].startswith("text/plain")
            assert echoed.headers["x-content-type-options"] == "nosniff"
            long = await http.post(hook, params={"validationToken": "x" * 2000})
            assert long.status_code == 422
            assert (await http.post("/v1/webhooks/graph/nobody", json={})).status_code == 404
            await poll(configured, dev_env.client)  # the first poll subscribes (handshake)
            [subscription] = [s for s in graph.subscriptions.values()
                              if s["notificationUrl"] == f"{public}{hook}"]  # fmt: skip
            assert subscription["changeType"] == "created"
            assert subscription["clientState"] == client_state(configured, name)
            schedule = dev_env.client.get_schedule_handle(f"{PREFIX}{name}")
            actions = (await schedule.describe()).info.num_actions
            forged = {"value": [{**subscription, "clientState": "guessed"}]}
            refused = await http.post(hook, json=forged)
            assert refused.status_code == 403 and "clientState" in refused.json()["detail"]
            assert (await schedule.describe()).info.num_actions == actions  # nothing triggered
            message_id, raw = mail()
            graph.add(user(configured), raw)  # Graph notifies; the poll runs at once
            await until(lambda: len(rows(configured, dev_env.client)) == 1)
            assert graph.notified[-1]["status"] == 202
            assert (await result_of(dev_env.client, message_id)).status == RunStatus.SUCCESS
            subscription["expirationDateTime"] = expires_soon(hours=2)
            await poll(configured, dev_env.client)  # renewed, not a second subscription
            assert len([s for s in graph.subscriptions.values()
                        if s["notificationUrl"] == f"{public}{hook}"]) == 1  # fmt: skip
            assert subscription["expirationDateTime"] > expires_soon(hours=24)
        finally:
            await sync_schedules(dev_env.client, configured.model_copy(update={"mailboxes": []}))


def test_graph_settings_are_checked() -> None:
    base = {"name": "m", "provider": "graph", "user": "sales@contoso.example",
            "tenant_id": "t1", "client_id": "c", "client_secret": "s"}  # fmt: skip
    config = MailboxConfig.model_validate(base)
    assert (config.folder, config.after) == ("inbox", "seen")
    assert config.token_url == "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
    with pytest.raises(ValueError, match="Graph needs client_secret"):
        MailboxConfig.model_validate({**base, "client_secret": ""})
    with pytest.raises(ValueError, match="after 'keyword:x' is not one of seen, move for graph"):
        MailboxConfig.model_validate({**base, "after": "keyword:x"})
    plain = Settings(env="production", mailboxes=[{**base, "graph_url": "http://graph.example"}])
    assert "mailbox m: Graph or token URL over plain http" in plain.production_problems()
    assert "s" in Settings(mailboxes=[base]).secrets


async def test_mcs_dev_serves_the_simulator_for_a_graph_mailbox_that_names_it(
    settings: Settings, dev_env: WorkflowEnvironment, masterdata: None
) -> None:
    from contextlib import AsyncExitStack

    from devstack import simulators

    named = MailboxConfig(
        name="dev", provider="graph", tenant_id="t", client_id="app", client_secret="secret",
        user="sales@contoso.example", graph_url="sandbox",
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        served, urls = await simulators(stack, settings.model_copy(update={"mailboxes": [named]}))
        [mailbox] = served.mailboxes
        assert mailbox.graph_url.startswith("http://127.0.0.1:") and "Graph simulator (dev)" in urls
        base = mailbox.graph_url.removesuffix("/v1.0")
        async with httpx.AsyncClient(base_url=base) as http:
            raw = mail()[1]
            delivered = await http.post(f"/_sandbox/users/{mailbox.user}/messages", content=raw)
            assert delivered.status_code == 201
        result = await poll(served.model_copy(update={"task_queue": "dev-graph"}), dev_env.client)
        assert (result.seen, result.started) == (1, 1)


async def test_two_polls_keeping_their_delta_links_at_once_both_succeed(
    settings: Settings, graph: GraphSim, dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Racing polls of a new mailbox: the second finds the row the first created meanwhile."""
    from sqlmodel import Session

    from models.ingest import MailboxState

    configured = configure(settings, graph)
    config, keeper = configured.mailboxes[0], ingester(configured, dev_env.client)
    keeper.keep_cursor(config, "first")  # the racing poll's row
    real_get, stale = Session.get, [True]

    def read_before_it(session: Session, entity: Any, key: Any, **options: Any) -> Any:
        if entity is MailboxState and stale:  # read before the other poll committed
            stale.clear()
            return None
        return real_get(session, entity, key, **options)

    monkeypatch.setattr(Session, "get", read_before_it)
    keeper.keep_cursor(config, "second")
    assert keeper.cursor(config) == "second"
