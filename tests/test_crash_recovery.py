"""A worker SIGKILLed during a Dify call: its missed heartbeats, not the 3-minute start-to-close
timeout, hand the call to another worker (dev server and workers as separate processes)."""

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import ActivityTaskStartedEventAttributes
from temporalio.client import Client, WorkflowHistory

from devstack import spawn, stop_process, temporal_server
from models.codec import PLAIN_CONVERTER
from sandbox.demo import make_email
from sandbox.faults import Faults
from settings import Settings
from tests.helpers import Sims, binary, by_reference, free_port, sims_env
from workflows.sales_email import SalesEmailWorkflow


async def test_a_killed_worker_call_is_retried_after_its_heartbeat_timeout(
    sims: Sims, settings: Settings, api_url: str
) -> None:
    """The workers share the session's database and blob store, whose files our API serves."""
    binary("temporal")
    root = Path(tempfile.mkdtemp(prefix="mcs-crash-"))
    settings = settings.model_copy(
        update={"temporal_port": free_port(), "temporal_ui_port": free_port(),
                "task_queue": f"crash-{uuid.uuid4()}", "data_dir": settings.data_dir}
    )  # fmt: skip
    own = settings.model_copy(update={"data_dir": root})  # the dev server's state only
    env = worker_env(settings, api_url, sims)
    worker = [str(Path(sys.executable).parent / "mcs"), "worker"]
    try:
        async with temporal_server(own):
            client = await Client.connect(
                f"127.0.0.1:{settings.temporal_port}", data_converter=PLAIN_CONVERTER
            )
            first = spawn(worker, root / "worker-1.log", env)
            sims.dify_faults.faults = Faults(latency_ms=3000)  # the call is in flight a while
            sims.dify_faults.requests = 0
            handle = await client.start_workflow(
                SalesEmailWorkflow.run, by_reference(make_email(), settings),
                id=f"crash-{uuid.uuid4()}", task_queue=settings.task_queue,
            )  # fmt: skip
            while sims.dify_faults.requests == 0:
                assert first.poll() is None, (root / "worker-1.log").read_text()
                await asyncio.sleep(0.05)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            killed = time.monotonic()
            second = spawn(worker, root / "worker-2.log", env)
            try:
                result = await handle.result()
                recovered = time.monotonic() - killed
            finally:
                stop_process(second)
            history = await handle.fetch_history()
    finally:
        sims.dify_faults.faults = Faults()
        shutil.rmtree(root, ignore_errors=True)
    assert result.status == "SUCCESS", result.errors
    [attempt] = retried(history)  # the Dify call, once more, after the dead worker's heartbeats
    timeout = attempt.last_failure.timeout_failure_info.timeout_type
    assert timeout == TimeoutType.TIMEOUT_TYPE_HEARTBEAT, attempt.last_failure
    print(f"run completed {recovered:.1f} s after the worker was killed")


def worker_env(settings: Settings, api_url: str, sims: Sims) -> dict[str, str]:
    """The environment of an `mcs worker` process of the test."""
    return {
        **os.environ,
        "MCS_ENV": "dev",  # the test reads the histories with a plain converter
        "MCS_DATA_DIR": str(settings.data_dir),
        "MCS_PUBLIC_BASE_URL": api_url,
        "MCS_TEMPORAL_ADDRESS": f"127.0.0.1:{settings.temporal_port}",
        "MCS_TASK_QUEUE": settings.task_queue,
        **sims_env(sims),
    }


def retried(history: WorkflowHistory) -> list[ActivityTaskStartedEventAttributes]:
    """The activity attempts after a first one."""
    return [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.attempt > 1
    ]
