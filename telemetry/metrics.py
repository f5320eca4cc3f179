"""The Prometheus series of MCS that more than one module counts (one definition each)."""

from prometheus_client import Counter

EMAILS_INGESTED = Counter(
    "emails_ingested_total",
    "Emails taken in, by channel (http, imap) and outcome (accepted, duplicate, rejected)",
    ["channel", "outcome"],
)
