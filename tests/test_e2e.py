"""End to end over loopback: dev server, worker, API and simulators as separate processes."""

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from devstack import (
    load_demo_masterdata,
    process_stack,
    spawn,
    stop_process,
    temporal_server,
    wait_for_port,
)
from sandbox.demo import make_email
from settings import Settings
from tests.helpers import binary, finished, free_ports, personal_data

E2E_KEY = "e2e-admin-key-0123456789"
METRICS: list[str] = []  # the worker's metrics URLs (ours, the SDK's), once the stack runs


@pytest_asyncio.fixture(scope="module")
async def stack() -> AsyncIterator[tuple[str, Path, str]]:
    binary("temporal")
    root = Path(tempfile.mkdtemp(prefix="mcs-e2e-"))
    names = ("temporal", "ui", "api", "dify", "erp", "smtp", "metrics")
    ports = free_ports(*names)
    settings = Settings(
        data_dir=root, temporal_port=ports["temporal"], temporal_ui_port=ports["ui"]
    )
    commands, env = process_stack(root, ports, E2E_KEY)
    load_demo_masterdata(settings)
    async with temporal_server(settings):
        processes = [spawn(cmd, root / f"{name}.log", env) for name, cmd in commands.items()]
        try:
            for name in ("api", "dify", "erp", "smtp"):
                await wait_for_port(ports[name])
            await wait_for_port(ports["metrics"])
            METRICS[:] = [f"http://127.0.0.1:{ports['metrics'] + n}/metrics" for n in (0, 1)]
            yield f"http://127.0.0.1:{ports['api']}", root, f"http://127.0.0.1:{ports['erp']}"
        finally:
            for process in processes:
                stop_process(process)
    shutil.rmtree(root, ignore_errors=True)


async def test_an_email_posted_to_the_api_becomes_an_erp_order_and_a_mail(
    stack: tuple[str, Path, str],
) -> None:
    api_url, root, erp_url = stack
    headers = {"X-API-Key": E2E_KEY}
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


def series(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus series in an exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return 0.0


async def test_the_worker_process_and_the_api_serve_the_run_metrics(
    stack: tuple[str, Path, str],
) -> None:
    """Counters scraped over HTTP from the separate worker process and from the API change as a
    run completes."""
    api_url, _root, _erp = stack
    worker_metrics, sdk_metrics = METRICS
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": E2E_KEY}) as http:
        before = (await http.get(worker_metrics)).text
        api_before = (await http.get(f"{api_url}/metrics/")).text
        email = make_email().model_dump(mode="json", by_alias=True)
        answer = await http.post(f"{api_url}/v1/orchestrations/sales-email/run", json=email)
        await finished(http, answer.json()["workflow_id"], base=api_url, seconds=30)
        runs = {"status": "SUCCESS"}
        for _ in range(100):  # the run shows SUCCESS before its last step (finalize) counts it
            after = (await http.get(worker_metrics)).text
            if series(after, "orchestrator_runs_total", **runs) > series(
                before, "orchestrator_runs_total", **runs
            ):
                break
            await asyncio.sleep(0.1)
        api_after = (await http.get(f"{api_url}/metrics/")).text
    grew = {
        ("orchestrator_runs_total", (("status", "SUCCESS"),)),
        ("dify_calls_total", (("app", "contract"), ("outcome", "ok"))),
        ("dify_calls_total", (("app", "order"), ("outcome", "ok"))),
        ("erp_calls_total", (("outcome", "created"),)),
        ("orchestrator_step_duration_seconds_count", (("step", "call_erp_gateway"),)),
    }
    for name, labels in grew:
        assert series(after, name, **dict(labels)) == series(before, name, **dict(labels)) + 1, name
    accepted = {"channel": "http", "outcome": "accepted"}
    assert series(api_after, "emails_ingested_total", **accepted) == (
        series(api_before, "emails_ingested_total", **accepted) + 1
    )
    assert "intake_queued" in api_after and "review_queue_size" in api_after
    async with httpx.AsyncClient(timeout=30) as http:
        sdk = (await http.get(sdk_metrics)).text
    assert "temporal_workflow_completed" in sdk and "temporal_activity_execution_latency" in sdk


async def test_the_processes_log_json_lines_with_their_run_and_no_personal_data(
    stack: tuple[str, Path, str],
) -> None:
    """The API echoes the caller's request id and logs with it; the worker's lines carry the run
    and the step; no line of any process holds an address, a phone number or a key."""
    api_url, root, _erp = stack
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": E2E_KEY}) as http:
        email = make_email().model_dump(mode="json", by_alias=True)
        answer = await http.post(
            f"{api_url}/v1/orchestrations/sales-email/run",
            json=email,
            headers={"X-Request-ID": "req-e2e-42"},
        )
        assert answer.headers["x-request-id"] == "req-e2e-42"
        workflow_id = answer.json()["workflow_id"]
        await finished(http, workflow_id, base=api_url, seconds=30)
        fresh = await http.get(
            f"{api_url}/v1/healthz", headers={"X-Request-ID": "no spaces; allowed"}
        )
        assert len(fresh.headers["x-request-id"]) == 32  # not a sane token: a new one
    for _ in range(100):  # the worker's last lines may follow the run's SUCCESS
        logs = {name: (root / f"{name}.log").read_text() for name in ("api", "worker")}
        lines = logs["worker"].splitlines()
        if any(workflow_id in line and '"step": "notify_sales"' in line for line in lines):
            break
        await asyncio.sleep(0.1)
    api_lines = [json.loads(line) for line in logs["api"].splitlines() if line.startswith("{")]
    assert any(line["request_id"] == "req-e2e-42" for line in api_lines), logs["api"][-2000:]
    worker_lines = [json.loads(line) for line in logs["worker"].splitlines()]
    mine = [line for line in worker_lines if line["workflow_id"] == workflow_id]
    [sent] = [line for line in mine if line["step"] == "notify_sales"]
    assert sent["run_id"] and "***@" in sent["message"], sent
    for name, text in logs.items():
        assert not personal_data(text, (E2E_KEY,)), name
