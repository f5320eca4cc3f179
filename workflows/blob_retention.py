"""BlobRetentionWorkflow: one pass of the blob retention, started daily by its Schedule."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities
    from models.results import PurgeInput, PurgeResult


@workflow.defn
class BlobRetentionWorkflow:
    """Remove the files of runs finished longer ago than the retention."""

    @workflow.run
    async def run(self, input: PurgeInput) -> PurgeResult:
        return await workflow.execute_activity_method(
            RetentionActivities.purge_blobs,
            input,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
