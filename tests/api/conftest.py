"""The API app on the real dev server, called through ASGITransport."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from tests.helpers import open_api, running_worker


@pytest_asyncio.fixture(scope="session")
async def dev_settings(
    settings: Settings, dev_env: WorkflowEnvironment, api_url: str
) -> AsyncIterator[Settings]:
    """Settings for runs on the dev server, with a worker polling their task queue."""
    dev = settings.model_copy(update={"task_queue": f"dev-{uuid.uuid4()}"})
    async with running_worker(dev_env.client, dev):
        yield dev


@pytest_asyncio.fixture(scope="session")
async def api(
    dev_settings: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_api(dev_settings, dev_env):
        yield client
