"""LangSmith tracing against a local stand-in of its endpoint: one trace per run, a span per Dify
and ERP call, redacted; nothing sent while tracing is off."""

import asyncio
import json
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from models.runs import RunStatus, RunView
from sandbox import langsmith
from sandbox.demo import make_email
from settings import Settings
from telemetry.tracing import Tracer, trace_id
from tests.helpers import free_port, run, running_worker, serve


async def traced_run(
    ts_env: WorkflowEnvironment, settings: Settings, monkeypatch: pytest.MonkeyPatch, tracing: str
) -> tuple[langsmith.RunLog, RunView]:
    """One run on a worker whose environment points LangSmith at a stand-in; what arrived."""
    app, received = langsmith.create_app("ls-test-key")
    async with serve(app, free_port()) as endpoint:
        monkeypatch.setenv("LANGSMITH_TRACING", tracing)
        monkeypatch.setenv("LANGSMITH_API_KEY", "ls-test-key")
        monkeypatch.setenv("LANGSMITH_ENDPOINT", endpoint)
        assert Tracer.from_env().on == bool(tracing)
        own = settings.model_copy(update={"task_queue": f"traced-{uuid.uuid4()}"})
        async with running_worker(ts_env.client, own):
            result = await run(ts_env.client, own, make_email())
        await asyncio.sleep(0.2)  # the last patch is sent from a thread
    return received, result


async def test_a_run_is_one_trace_with_a_redacted_span_per_remote_call(
    ts_env: WorkflowEnvironment,
    settings: Settings,
    api_url: str,  # serves the contract files Dify reads
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received, result = await traced_run(ts_env, settings, monkeypatch, tracing="true")
    assert result.status == RunStatus.SUCCESS
    root_id = str(trace_id(result.workflow_id, result.run_id))
    spans = received.traces()[root_id]
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"sales-email", "dify.contract", "dify.order", "erp.create_order"}
    assert by_name["sales-email"]["outputs"] == {"status": "SUCCESS"}  # ended by the last step
    for name in ("dify.contract", "dify.order", "erp.create_order"):
        span = by_name[name]
        assert span["parent_run_id"] == root_id and span["end_time"], span
        assert span["dotted_order"].startswith(by_name["sales-email"]["dotted_order"] + ".")
    assert by_name["erp.create_order"]["outputs"]["sales_order_no"] == result.sales_order_no
    sent = json.dumps(spans, ensure_ascii=False)
    assert "@huadong.example" in sent and "buyer@huadong.example" not in sent  # a***@huadong
    assert "signature=***" in sent and "ls-test-key" not in sent


async def test_nothing_is_sent_while_tracing_is_off(
    ts_env: WorkflowEnvironment,
    settings: Settings,
    api_url: str,  # serves the contract files Dify reads
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received, result = await traced_run(ts_env, settings, monkeypatch, tracing="")
    assert result.status == RunStatus.SUCCESS
    assert received.requests == 0 and received.runs == {}
