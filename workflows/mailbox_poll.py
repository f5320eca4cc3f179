"""MailboxPollWorkflow: one poll of one mailbox, started by the mailbox's Temporal Schedule."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.mailbox import MailboxActivities
    from models.ingest import PollInput, PollResult

POLL_TIMEOUT = timedelta(minutes=10)
POLL_HEARTBEAT = timedelta(minutes=1)
POLL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3)


@workflow.defn
class MailboxPollWorkflow:
    """Poll one mailbox: new messages are recorded, started and marked by the activity."""

    @workflow.run
    async def run(self, input: PollInput) -> PollResult:
        """Run one poll; a retry resumes after the last message the failed attempt finished."""
        return await workflow.execute_activity_method(
            MailboxActivities.poll_mailbox,
            input,
            start_to_close_timeout=POLL_TIMEOUT,
            heartbeat_timeout=POLL_HEARTBEAT,
            retry_policy=POLL_RETRY,
        )
