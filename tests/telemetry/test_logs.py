"""Log lines: JSON with the run's context, text for humans, one line per expected failure."""

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from telemetry import logs

log = logging.getLogger("mcs.test.logs")


@activity.defn
async def refused_by_erp() -> None:
    log.info("posting the order for buyer@huadong.example")
    raise ApplicationError("HTTP 422: CUSTOMER_BLOCKED", type="ERP_REJECTED", non_retryable=True)


@activity.defn
async def buggy() -> None:
    raise KeyError("surprise for buyer@huadong.example")


@workflow.defn(sandboxed=False)
class TwoFailures:
    @workflow.run
    async def run(self) -> None:
        once = RetryPolicy(maximum_attempts=1)
        for step in (refused_by_erp, buggy):
            try:
                await workflow.execute_activity(
                    step, start_to_close_timeout=timedelta(seconds=10), retry_policy=once
                )
            except Exception:
                workflow.logger.info("step failed, going on")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What our JSON handler writes while a test runs."""
    stream = io.StringIO()
    writer = logs.handler("json", ("k-secret",), stream)
    root = logging.getLogger()
    root.addHandler(writer)
    level, root.level = root.level, logging.INFO
    yield stream
    root.removeHandler(writer)
    root.setLevel(level)


async def test_activity_lines_carry_the_run_and_expected_failures_are_one_line(
    ts_env: WorkflowEnvironment, captured: io.StringIO
) -> None:
    queue = f"logs-{uuid.uuid4()}"
    async with Worker(
        ts_env.client, task_queue=queue, workflows=[TwoFailures], activities=[refused_by_erp, buggy]
    ):
        handle = await ts_env.client.start_workflow(
            TwoFailures.run, id=f"logs-{uuid.uuid4()}", task_queue=queue
        )
        await handle.result()
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    ours = [line for line in lines if line["workflow_id"] == handle.id]
    [posting] = [line for line in ours if line["message"].startswith("posting")]
    assert posting["step"] == "refused_by_erp" and posting["run_id"] == handle.result_run_id
    assert posting["message"] == "posting the order for b***@huadong.example"
    failed = {
        line["step"]: line for line in ours if "Completing activity as failed" in line["message"]
    }
    assert "ERP_REJECTED: HTTP 422: CUSTOMER_BLOCKED" in failed["refused_by_erp"]["message"]
    assert "exc_info" not in failed["refused_by_erp"]  # an expected outcome: no traceback
    assert "Traceback" in failed["buggy"]["exc_info"]  # a bug keeps its traceback, redacted:
    assert "b***@huadong.example" in failed["buggy"]["exc_info"]
    assert any(line["message"].startswith("step failed, going on") for line in ours)


def test_text_lines_name_their_context_and_json_lines_always_have_the_fields() -> None:
    record = logging.LogRecord("mcs", logging.INFO, __file__, 1, "key %s", ("k-secret",), None)
    logs.RunContext().filter(record)
    assert json.loads(logs.formatter("json").format(record))["request_id"] == ""
    token = logs.REQUEST_ID.set("req-7")
    try:
        record.request_id = ""
        logs.RunContext().filter(record)
    finally:
        logs.REQUEST_ID.reset(token)
    text = logs.Redacting(logs.formatter("text"), ("k-secret",)).format(record)
    assert text.endswith("INFO mcs: key *** [request_id=req-7]")
