"""Session-wide real servers: Temporal (time-skipping, dev), the simulators, the API, a worker."""

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from devstack import load_demo_masterdata
from models import run_contract as contract
from models.codec import PLAIN_CONVERTER
from sandbox import dify, erp
from sandbox.dovecot import Imap
from sandbox.faults import Faults
from sandbox.smtp import start_sink
from settings import Settings
from telemetry import logs
from tests.helpers import (
    Sims,
    binary,
    free_port,
    installed,
    personal_data,
    running_worker,
    serve,
)


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mcs-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def sims() -> AsyncIterator[Sims]:
    dify_app = dify.create_app("app-contract-test", "app-order-test")
    erp_app = erp.create_app("erp-test-key")
    smtp_port = free_port()
    controller: Controller
    controller, handler = start_sink("127.0.0.1", smtp_port)
    async with serve(dify_app, free_port()) as dify_url, serve(erp_app, free_port()) as erp_url:
        yield Sims(
            dify_url=dify_url,
            dify_faults=dify_app.state.faults,
            erp_url=erp_url,
            erp_faults=erp_app.state.faults,
            erp_orders=erp_app.state.book.orders,
            smtp=handler,
            smtp_port=smtp_port,
        )
    controller.stop()


@pytest.fixture(autouse=True)
def _reset_faults(request: pytest.FixtureRequest) -> None:
    if "sims" not in request.fixturenames:
        return
    state: Sims = request.getfixturevalue("sims")
    state.dify_faults.faults = Faults()
    state.erp_faults.faults = Faults()
    state.smtp.fail = False


@pytest.fixture(scope="session", autouse=True)
def log_scan(data_dir: Path, request: pytest.FixtureRequest) -> Iterator[None]:
    """Every log line of the whole run written as production writes it (JSON, with context,
    redacted), then scanned: no email address, phone number or key may be in any of them."""
    path = data_dir / "test-run.log"
    secrets = (*TEST_SECRETS, *Settings().secrets)
    with path.open("w") as stream:
        writer = logs.handler("json", secrets, stream)
        root = logging.getLogger()
        root.addHandler(writer)
        level, root.level = root.level, logging.INFO
        yield
        root.removeHandler(writer)
        root.setLevel(level)
    text = path.read_text()
    found = personal_data(text, secrets)
    assert not found, f"{len(found)} personal data or secrets in the logs: {found[:5]}"
    if request.session.testscollected > 100:  # a whole run logs thousands of lines
        assert text.count("\n") > 1000, "the scan saw (almost) no log lines"


TEST_SECRETS = ("app-contract-test", "app-order-test", "erp-test-key", "test-key")


@pytest.fixture(scope="session")
def settings(sims: Sims, data_dir: Path, request: pytest.FixtureRequest) -> Settings:
    """The session's settings; its database is SQLite in `data_dir`, or a PostgreSQL database
    with MCS_TEST_DATABASE=postgresql (`scripts/test` runs the workflow tests so too)."""
    database_url = ""
    if os.environ.get("MCS_TEST_DATABASE") == "postgresql":
        from models.migrate import upgrade
        from sandbox.postgres import create_database

        database_url = create_database(request.getfixturevalue("postgres"), "suite")
        upgrade(database_url)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        api_port=free_port(),
        task_queue=f"test-{uuid.uuid4()}",
        dify_base_url=sims.dify_url,
        dify_contract_app_key="app-contract-test",
        dify_order_app_key="app-order-test",
        erp_base_url=sims.erp_url,
        erp_api_key="erp-test-key",
        smtp_host="127.0.0.1",
        smtp_port=sims.smtp_port,
        api_keys=["test-key"],
        workflow_sandbox=True,
        trusted_authserv_ids=["mx.mcs.example"],
        attachment_url_hosts=["127.0.0.1"],
    )


@pytest.fixture(scope="session")
def masterdata(settings: Settings) -> None:
    load_demo_masterdata(settings)


async def register_search_attributes(client: Client) -> None:
    request = AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
            for key in contract.SEARCH_ATTRIBUTES
        },
    )
    await client.operator_service.add_search_attributes(request)


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server (timers of days pass in milliseconds)."""
    path = binary("temporal-test-server")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=PLAIN_CONVERTER
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (visibility, search attributes, updates)."""
    path = binary("temporal")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        data_converter=PLAIN_CONVERTER,
        search_attributes=contract.SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def api_url(
    settings: Settings, ts_env: WorkflowEnvironment, masterdata: None
) -> AsyncIterator[str]:
    """Our API over real HTTP: Dify fetches the signed PDF URLs from it."""
    async with serve(create_app(settings, ts_env.client), settings.api_port) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def ts_worker(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str
) -> AsyncIterator[Settings]:
    """A worker on the time-skipping server, with real activities against the simulators."""
    async with running_worker(ts_env.client, settings):
        yield settings


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server for the whole session (its `postgres` database URL)."""
    from sandbox.postgres import postgres_server

    with installed(), postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def imap() -> Iterator["Imap"]:
    """A Dovecot IMAP server for the whole session."""
    from sandbox.dovecot import dovecot_server

    with installed(), dovecot_server() as server:
        yield server
