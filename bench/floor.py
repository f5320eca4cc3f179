"""The floor for bench/e2e.py: a workflow of eleven no-op activities, and its worker process."""

import argparse
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

STEPS = 11


@activity.defn
async def noop(step: int) -> int:
    """Do nothing."""
    return step


@workflow.defn
class FloorWorkflow:
    """Eleven no-op activities in a row: what any eleven-step workflow costs on this server."""

    @workflow.run
    async def run(self) -> int:
        total = 0
        for step in range(STEPS):
            total += await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return total


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(client, task_queue=task_queue, workflows=[FloorWorkflow], activities=[noop])
    await worker.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", default="floor")
    args = parser.parse_args()
    from worker import run_async  # not at the top: the workflow sandbox re-imports this module

    run_async(main(args.address, args.task_queue))  # the event loop `mcs worker` runs on
