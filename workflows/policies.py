"""Timeouts and retry policies of the sales-email steps (activities mark 4xx non-retryable)."""

from datetime import timedelta

from temporalio.common import RetryPolicy

LOCAL_TIMEOUT = timedelta(seconds=20)
LOCAL_RETRY = RetryPolicy(
    maximum_attempts=3, non_retryable_error_types=["MasterdataInvalid", "UnknownCustomer"]
)
# The run's record is written after the order and the mail: giving up would fail a run whose
# order exists, so it is retried until the database is back (visible as the step `finalize`).
FINALIZE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.5),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
DIFY_TIMEOUT = timedelta(minutes=3)
DIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
)
ERP_TIMEOUT = timedelta(seconds=60)
ERP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
)
NOTIFY_TIMEOUT = timedelta(seconds=30)
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)
REMOTE_POLICY = {
    "call_dify_contract": (DIFY_TIMEOUT, DIFY_RETRY),
    "call_dify_order_payload": (DIFY_TIMEOUT, DIFY_RETRY),
    "call_erp_gateway": (ERP_TIMEOUT, ERP_RETRY),
}
