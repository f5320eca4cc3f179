"""The API app on the real dev server, called through ASGITransport."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from settings import Settings
from worker import build_worker


@pytest_asyncio.fixture(scope="session")
async def dev_settings(
    settings: Settings, dev_env: WorkflowEnvironment, api_url: str
) -> AsyncIterator[Settings]:
    """Settings for runs on the dev server, with a worker polling their task queue."""
    dev = settings.model_copy(update={"task_queue": f"dev-{uuid.uuid4()}"})
    async with build_worker(dev_env.client, dev) as worker:
        task = asyncio.create_task(worker.run())
        yield dev
        await worker.shutdown()
        await task


async def open_api(
    settings: Settings, env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, env.client)
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
