"""Mailbox intake at volume: 1,000 messages in a real Dovecot (`--provider imap`, the default) or
the Microsoft Graph simulator (`--provider graph`), ingested by the poll activity.

Prints the time to ingest them all (recorded, PDF stored, run started, message marked; target
under 60 s) with two pollers racing on one mailbox, and the number of duplicate runs (must be 0).
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from imap_tools import MailBoxUnencrypted
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.mailbox import MailboxActivities  # noqa: E402
from devstack import free_port, spawn, stop_process, wait_for_port  # noqa: E402
from mail.ingest import Ingester  # noqa: E402
from models import run_contract as contract  # noqa: E402
from models.codec import PLAIN_CONVERTER  # noqa: E402
from models.db import make_engine  # noqa: E402
from models.ingest import PollInput, PollResult  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from sandbox.demo import contract_message
from sandbox.dovecot import dovecot_server  # noqa: E402
from settings import MailboxConfig, Settings  # noqa: E402
from storage.blobs import BlobStore  # noqa: E402
from temporal_client import blocking_starter  # noqa: E402

BIN = Path(sys.executable).parent


async def poll_until_empty(activities: MailboxActivities, name: str) -> int:
    seen = 0
    while True:
        result: PollResult = await asyncio.to_thread(
            ActivityEnvironment().run, activities.poll_mailbox, PollInput(mailbox=name)
        )
        seen += result.seen
        if result.seen == 0:
            return seen


@asynccontextmanager
async def filled(provider: str, count: int) -> AsyncIterator[MailboxConfig]:
    """A mailbox holding `count` contract mails, on a server started for the bench."""
    started = time.perf_counter()
    if provider == "graph":  # the simulator in a process of its own, as Dovecot is
        port = free_port()
        mcs = str(Path(sys.executable).parent / "mcs")
        command = [mcs, "sandbox", "graph", "--port", str(port)]
        logs = Path(tempfile.mkdtemp(prefix="mcs-bench-graph-"))
        server = spawn(command, logs / "graph.log")
        url, user = f"http://127.0.0.1:{port}", "bench@contoso.example"
        try:
            await wait_for_port(port)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                for _ in range(count):
                    raw = contract_message(f"<{uuid.uuid4()}@bench.example>")
                    sent = await http.post(f"/_sandbox/users/{user}/messages", content=raw)
                    sent.raise_for_status()
            print(f"delivered {count} messages to the Graph simulator in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            yield MailboxConfig(
                name="bench", provider="graph", tenant_id="bench", client_id="mcs-app",
                client_secret="mcs-app-secret", user=user, graph_url=f"{url}/v1.0",
                token_url=f"{url}/{{tenant_id}}/oauth2/v2.0/token",
            )  # fmt: skip
        finally:
            stop_process(server)
        shutil.rmtree(logs, ignore_errors=True)  # kept when the bench stops on an error: its log
        return
    with dovecot_server() as imap:
        mailbox = MailboxConfig(
            name="bench", host=imap.host, port=imap.port, tls=False, user="bench@mcs.example",
            password=imap.password,
        )  # fmt: skip
        with MailBoxUnencrypted(imap.host, imap.port, timeout=30).login(
            mailbox.user, mailbox.password
        ) as box:
            for _ in range(count):
                box.append(contract_message(f"<{uuid.uuid4()}@bench.example>"), "INBOX")
        print(f"appended {count} messages to Dovecot in {time.perf_counter() - started:.1f} s")
        yield mailbox


async def main(count: int, provider: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="mcs-intake-"))
    async with filled(provider, count) as mailbox:
        settings = Settings(data_dir=root, mailboxes=[mailbox], task_queue="intake-bench")
        upgrade(settings.db_url)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=shutil.which("temporal", path=str(BIN)),
            data_converter=PLAIN_CONVERTER, search_attributes=contract.SEARCH_ATTRIBUTES,
            dev_server_log_level="error",
        )  # fmt: skip
        async with env:
            engine = make_engine(settings.db_url)
            loop = asyncio.get_running_loop()
            start = blocking_starter(env.client, loop, settings.task_queue)
            ingester = Ingester(engine, BlobStore(settings.blob_dir), start, settings)
            pollers = [MailboxActivities(settings, ingester) for _ in range(2)]
            started = time.perf_counter()
            seen = await asyncio.gather(*(poll_until_empty(p, "bench") for p in pollers))
            seconds = time.perf_counter() - started
            rows = ingester.messages("bench")
            query = "WorkflowType = 'SalesEmailWorkflow'"
            ids = [run.id async for run in env.client.list_workflows(query)]
            rate = len(rows) / seconds
            print(f"{provider}: ingested {len(rows)} messages in {seconds:.1f} s with 2 racing "
                  f"pollers ({rate:.0f} messages/s; target < 60 s); polls saw {seen}")  # fmt: skip
            print(f"runs started: {len(ids)}, distinct: {len(set(ids))}, "
                  f"duplicate runs: {len(ids) - len(set(ids))} (must be 0)")  # fmt: skip
            again = await poll_until_empty(pollers[0], "bench")
            print(f"a further poll saw {again} messages (must be 0)")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--provider", choices=["imap", "graph"], default="imap")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.provider))
