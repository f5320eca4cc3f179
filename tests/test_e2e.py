"""End to end over loopback: dev server, worker, API and simulators as separate processes."""

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from devstack import load_demo_masterdata, spawn, stop_process, temporal_server, wait_for_port
from sandbox.demo import make_email
from settings import Settings
from tests.servers import binary, free_port

MCS = str(Path(sys.executable).parent / "mcs")


@pytest_asyncio.fixture(scope="module")
async def stack() -> AsyncIterator[tuple[str, Path, str]]:
    binary("temporal")
    root = Path(tempfile.mkdtemp(prefix="mcs-e2e-"))
    ports = {name: free_port() for name in ("temporal", "ui", "api", "dify", "erp", "smtp")}
    settings = Settings(
        data_dir=root, temporal_port=ports["temporal"], temporal_ui_port=ports["ui"]
    )
    env = {
        **os.environ,
        "MCS_DATA_DIR": str(root),
        "MCS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "MCS_API_PORT": str(ports["api"]),
        "MCS_API_KEYS": "e2e-key",
        "MCS_DIFY_BASE_URL": f"http://127.0.0.1:{ports['dify']}",
        "MCS_ERP_BASE_URL": f"http://127.0.0.1:{ports['erp']}",
        "MCS_SMTP_HOST": "127.0.0.1",
        "MCS_SMTP_PORT": str(ports["smtp"]),
    }
    load_demo_masterdata(settings)
    commands = {
        "dify": [MCS, "sandbox", "dify", "--port", str(ports["dify"])],
        "erp": [MCS, "sandbox", "erp", "--port", str(ports["erp"])],
        "smtp": [MCS, "sandbox", "smtp", "--port", str(ports["smtp"])],
        "worker": [MCS, "worker"],
        "api": [MCS, "api"],
    }
    async with temporal_server(settings):
        processes = [spawn(cmd, root / f"{name}.log", env) for name, cmd in commands.items()]
        try:
            for name in ("api", "dify", "erp", "smtp"):
                await wait_for_port(ports[name])
            yield f"http://127.0.0.1:{ports['api']}", root, f"http://127.0.0.1:{ports['erp']}"
        finally:
            for process in processes:
                stop_process(process)
    shutil.rmtree(root, ignore_errors=True)


async def test_an_email_posted_to_the_api_becomes_an_erp_order_and_a_mail(
    stack: tuple[str, Path, str],
) -> None:
    api_url, root, erp_url = stack
    headers = {"X-API-Key": "e2e-key"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as api:
        email = make_email().model_dump(mode="json", by_alias=True)
        answer = await api.post("/v1/orchestrations/sales-email/run", json=email)
        assert answer.status_code == 202, answer.text
        workflow_id = answer.json()["workflow_id"]
        run: dict[str, object] = {}
        for _ in range(300):
            run = (await api.get(f"/v1/orchestrations/sales-email/runs/{workflow_id}")).json()
            if run["status"] != "RUNNING":
                break
            await asyncio.sleep(0.1)
        assert run["status"] == "SUCCESS", run
        orders = (await api.get(f"{erp_url}/v1/orders")).json()
    assert [o["sales_order_no"] for o in orders] == [run["sales_order_no"]]
    assert orders[0]["audit"]["workflow_id"] == workflow_id
    for _ in range(50):
        mails = sorted((root / "mail").glob("*.eml")) if (root / "mail").exists() else []
        if mails:
            break
        await asyncio.sleep(0.1)
    assert mails and str(run["sales_order_no"]).encode() in mails[-1].read_bytes()
