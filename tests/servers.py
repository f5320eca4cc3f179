"""Helpers that start real servers on free loopback ports for the tests."""

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

REQUIRE_SERVICES = os.environ.get("MCS_REQUIRE_SERVICES") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
async def serve(app: FastAPI, port: int) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn in this event loop; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
