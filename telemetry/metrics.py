"""The Prometheus series of MCS, one definition each (served by the API's `/metrics` and by the
worker on MCS_WORKER_METRICS_PORT; deploy/prometheus/alerts.yml alerts on them)."""

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter("orchestrator_runs_total", "Runs ended, by final status", ["status"])
STEP_SECONDS = Histogram(
    "orchestrator_step_duration_seconds", "Duration of one step attempt", ["step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)  # fmt: skip
STEP_ATTEMPTS = Counter(
    "orchestrator_step_attempts_total", "Step attempts, by outcome", ["step", "outcome"]
)
ERRORS = Counter("orchestrator_errors_total", "Errors runs ended with, by code", ["error_code"])
DIFY_CALLS = Counter("dify_calls_total", "Calls of the Dify apps", ["app", "outcome"])
ERP_CALLS = Counter("erp_calls_total", "Calls of the ERP gateway", ["outcome"])
IDEMPOTENCY_HITS = Counter(
    "idempotency_hits_total", "Runs answered from the order their email already produced"
)
EMAILS_INGESTED = Counter(
    "emails_ingested_total",
    "Emails taken in, by channel (http, imap) and outcome (accepted, duplicate, rejected)",
    ["channel", "outcome"],
)
REVIEW_QUEUE = Gauge("review_queue_size", "Runs waiting for a review decision")
INTAKE_QUEUED = Gauge("intake_queued", "Accepted emails whose run has not started yet")
OLDEST_QUEUED = Gauge(
    "intake_oldest_queued_seconds", "Age of the oldest accepted email whose run has not started"
)
MAILBOX_POLLED = Gauge(
    "mailbox_last_poll_timestamp_seconds", "When a mailbox was last polled to the end", ["mailbox"]
)
UNKNOWN_SENDER_MAILS = Counter(
    "unknown_sender_mails_total",
    "Mails about unknown senders: mailed, or held (one per sender per interval)",
    ["outcome"],
)
LEARNED_REFS = Counter("learned_refs_total", "Masterdata learned from reviews, by kind", ["kind"])
ORDERS = Counter(
    "orders_total", "ERP orders made, by path: touchless (no review) or reviewed", ["path"]
)
