"""Test helpers: server binaries, a running worker, waiting for runs (serving and free ports
come from devstack)."""

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from devstack import free_port, serve
from models.runs import OrchestratorRunResult
from settings import Settings
from worker import build_worker

__all__ = ["REQUIRE_SERVICES", "binary", "free_port", "run_result", "running_worker", "serve"]

REQUIRE_SERVICES = os.environ.get("MCS_REQUIRE_SERVICES") == "1"


def binary(name: str) -> str:
    """Path of a server binary; skips (or fails under MCS_REQUIRE_SERVICES=1) when missing."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    reason = f"{name} is not installed (pip install -e '.[dev]' provides it)"
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


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


async def run_result(
    client: Client, workflow_id: str, seconds: float = 60
) -> OrchestratorRunResult:
    """The result of a run accepted over HTTP: its start may still be queued in the outbox."""
    handle = client.get_workflow_handle(workflow_id, result_type=OrchestratorRunResult)
    for _ in range(int(seconds * 10)):
        try:
            result: OrchestratorRunResult = await handle.result()
            return result
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the run {workflow_id} did not start within {seconds} s")
