"""The API app on the real dev server, called through ASGITransport."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from settings import Settings
from tests.servers import running_worker


@pytest_asyncio.fixture(scope="session")
async def dev_settings(
    settings: Settings, dev_env: WorkflowEnvironment, api_url: str
) -> AsyncIterator[Settings]:
    """Settings for runs on the dev server, with a worker polling their task queue."""
    dev = settings.model_copy(update={"task_queue": f"dev-{uuid.uuid4()}"})
    async with running_worker(dev_env.client, dev):
        yield dev


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


@pytest_asyncio.fixture(scope="session")
async def api(
    dev_settings: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_api(dev_settings, dev_env):
        yield client
