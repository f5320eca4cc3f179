"""How each step of a sales-email run is executed: local or remote, its timeout and its retries
(activities mark what is not worth retrying). How a failed step ends the run is written where the
workflow calls the step, not here."""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.common import RetryPolicy

from models.errors import ErrorType
from models.steps import Step

LOCAL_TIMEOUT = timedelta(seconds=20)
LOCAL_RETRY = RetryPolicy(
    maximum_attempts=3,
    non_retryable_error_types=[ErrorType.MASTERDATA_INVALID, ErrorType.UNKNOWN_CUSTOMER],
)
# Steps that read or write our database wait for it: a database away for a while must neither
# fail a run at its start nor, at `finalize`, a run whose order exists. They are retried until the
# database is back (the run shows the step meanwhile); classified failures stay final.
DATABASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.5),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=LOCAL_RETRY.non_retryable_error_types,
)
FINALIZE_RETRY = DATABASE_RETRY
DIFY_TIMEOUT = timedelta(minutes=3)
# Ten attempts over about four minutes (1, 2, 4 ... 60 s apart): with six (31 s), Dify failing
# 40% of its calls for a while (bench/faults.py) blocked about one email in a hundred for good
# (0.4^6 per call); now one in ten thousand. The retry policy is not part of replay's checks.
DIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=10,
)
ERP_TIMEOUT = timedelta(seconds=60)
ERP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
)
# A worker that dies during a remote call misses its heartbeats (every 2 s): the call is retried
# after this, not after its whole start-to-close timeout.
REMOTE_HEARTBEAT = timedelta(seconds=10)
NOTIFY_TIMEOUT = timedelta(seconds=30)
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)


@dataclass(frozen=True, kw_only=True)
class StepPolicy:
    """`remote`: a regular activity (retried for minutes, shown pending in the Web UI) instead of
    a local one; `heartbeat`: how soon a remote call whose worker died is tried again."""

    timeout: timedelta = LOCAL_TIMEOUT
    retry: RetryPolicy = field(default_factory=lambda: LOCAL_RETRY)
    remote: bool = False
    heartbeat: timedelta | None = None


POLICIES: dict[Step, StepPolicy] = {
    Step.CHECK_IDEMPOTENCY: StepPolicy(retry=DATABASE_RETRY),
    Step.LOAD_MASTERDATA: StepPolicy(retry=DATABASE_RETRY),
    Step.MATCH_CONTACT: StepPolicy(retry=DATABASE_RETRY),
    Step.DETECT_CONTRACT_SIGNAL: StepPolicy(retry=DATABASE_RETRY),
    Step.MATCH_CUSTOMER: StepPolicy(retry=DATABASE_RETRY),
    Step.UPLOAD_PDF: StepPolicy(),
    Step.CALL_DIFY_CONTRACT: StepPolicy(
        timeout=DIFY_TIMEOUT, retry=DIFY_RETRY, remote=True, heartbeat=REMOTE_HEARTBEAT
    ),
    Step.CALL_DIFY_ORDER_PAYLOAD: StepPolicy(
        timeout=DIFY_TIMEOUT, retry=DIFY_RETRY, remote=True, heartbeat=REMOTE_HEARTBEAT
    ),
    Step.REVIEW_ORDER: StepPolicy(retry=DATABASE_RETRY),
    Step.LEARN_FROM_REVIEW: StepPolicy(retry=DATABASE_RETRY),
    Step.CALL_ERP_GATEWAY: StepPolicy(
        timeout=ERP_TIMEOUT, retry=ERP_RETRY, remote=True, heartbeat=REMOTE_HEARTBEAT
    ),
    Step.NOTIFY_SALES: StepPolicy(timeout=NOTIFY_TIMEOUT, retry=NOTIFY_RETRY),
    Step.FINALIZE: StepPolicy(retry=FINALIZE_RETRY),
}
