"""The floors for bench/e2e.py, and their worker process.

- `ShapeWorkflow`: a no-op workflow of MCS's own shape: the same regular activities, local
  activities, search-attribute and memo upserts, in the same order, as a SUCCESS run of
  `SalesEmailWorkflow`. The shape is read from such a run's history (`shape_of`), so the floor
  follows the workflow when the workflow changes.
- `Floor11Workflow`: eleven no-op regular activities in a row (what any eleven-step workflow costs).

The worker runs the workflows as `mcs worker` does (same runner, event loop and CPU priority), so
the figures compare work, not set-up.
"""

import argparse
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.common import SearchAttributeKey
from temporalio.worker import Worker

STEPS = 11
TIMEOUT = timedelta(seconds=30)
STEP_KEY = SearchAttributeKey.for_keyword("SalesEmailStep")  # registered with MCS's attributes
LOCAL, REMOTE, UPSERT, MEMO = "local", "remote", "upsert", "memo"


@activity.defn
async def noop(step: int) -> int:
    """Do nothing."""
    return step


def shape_of(history: WorkflowHistory) -> list[str]:
    """The commands a run gave, in order: local and regular activities, search-attribute and
    memo upserts."""
    shape = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            if event.marker_recorded_event_attributes.marker_name == "core_local_activity":
                shape.append(LOCAL)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            shape.append(REMOTE)
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            shape.append(UPSERT)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            shape.append(MEMO)
    return shape


@workflow.defn
class ShapeWorkflow:
    """No-op commands in the order of a run of MCS: what MCS's shape costs on this server."""

    @workflow.run
    async def run(self, shape: list[str]) -> int:
        for step, command in enumerate(shape):
            if command == LOCAL:
                await workflow.execute_local_activity(noop, step, start_to_close_timeout=TIMEOUT)
            elif command == REMOTE:
                await workflow.execute_activity(noop, step, start_to_close_timeout=TIMEOUT)
            elif command == UPSERT:
                workflow.upsert_search_attributes([STEP_KEY.value_set(f"step-{step}")])
            elif command == MEMO:
                workflow.upsert_memo({"step": step})
        return len(shape)


@workflow.defn
class Floor11Workflow:
    """Eleven no-op activities in a row: what any eleven-step workflow costs on this server."""

    @workflow.run
    async def run(self) -> int:
        total = 0
        for step in range(STEPS):
            total += await workflow.execute_activity(noop, step, start_to_close_timeout=TIMEOUT)
        return total


async def main(address: str, task_queue: str) -> None:
    from settings import Settings
    from telemetry import heap
    from worker import lower_priority, runner

    settings = Settings()
    lower_priority(settings)  # MCS_WORKER_NICE: the MCS worker's bursts run at it too
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[ShapeWorkflow, Floor11Workflow],
        activities=[noop],
        workflow_runner=runner(settings),
    )
    heap.settle()  # as `mcs worker` does once it is built
    await worker.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", default="floor")
    args = parser.parse_args()
    from worker import run_async  # not at the top: the workflow sandbox re-imports this module

    run_async(main(args.address, args.task_queue))  # the event loop `mcs worker` runs on
