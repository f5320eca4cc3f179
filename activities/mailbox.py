"""Polling a mailbox (IMAP, Microsoft Graph or POP3): record each new message once, start its
run, then mark it. One code path for every provider (mail/sources.py is the interface)."""

import logging
import time

from temporalio import activity

from mail.ingest import Ingester, Position
from mail.providers import open_source
from mail.sources import Item, Source
from models.ingest import PollInput, PollResult
from settings import MailboxConfig, Settings
from telemetry.metrics import EMAILS_INGESTED, MAILBOX_POLLED

log = logging.getLogger(__name__)
MESSAGES_PER_POLL = 200
INGEST_OUTCOMES = {"started": "accepted", "duplicates": "duplicate", "rejected": "rejected"}


class MailboxActivities:
    """Polls configured mailboxes; every step is recorded so a crash neither loses nor repeats."""

    def __init__(self, settings: Settings, ingester: Ingester) -> None:
        self._settings = settings
        self._ingester = ingester

    @activity.defn
    def poll_mailbox(self, input: PollInput) -> PollResult:
        """Ingest the new messages (a bounded batch per poll), heartbeating per message."""
        config = self._settings.mailbox(input.mailbox)
        with open_source(config, self._settings, self._ingester, _resumed_uid) as source:
            items = source.pending(MESSAGES_PER_POLL)
            counts = {"seen": 0, "started": 0, "duplicates": 0, "rejected": 0}
            for item in items:
                outcome = self._one(source, config, item)
                counts["seen"] += 1
                counts[outcome] += 1
                source.handled(item)
                activity.heartbeat(source.validity, item.uid)
            source.finish(complete=len(items) < MESSAGES_PER_POLL)
            MAILBOX_POLLED.labels(config.name).set(time.time())
            return PollResult(
                mailbox=config.name,
                uidvalidity=source.validity,
                last_uid=source.last,
                **counts,
            )

    def _one(self, source: Source, config: MailboxConfig, item: Item) -> str:
        """Take one message; one that cannot be taken is quarantined and the poll goes on."""
        outcome = self._take(source, config, item)
        EMAILS_INGESTED.labels(source.provider, INGEST_OUTCOMES[outcome]).inc()
        return outcome

    def _take(self, source: Source, config: MailboxConfig, item: Item) -> str:
        position = (config.name, config.folder, source.validity, item.uid)
        if self._too_big(source, position, item, item.size):
            return "rejected"
        if self._ingester.finished(position):  # a racing poll took it since the listing
            return "duplicates"
        try:
            raw, received = source.fetch(item)
        except LookupError:  # deleted by someone else since the listing: nothing to take
            return "rejected"
        if self._too_big(source, position, item, len(raw)):  # a size not told before the fetch
            return "rejected"
        outcome = self._ingester.ingest(raw, position, received, source.provider, item.key)
        if outcome == "rejected":
            source.quarantine(item, self._settings.mailbox_quarantine)
        else:
            self._mark(source, item)
            self._ingester.done(raw)
        return outcome

    def _too_big(self, source: Source, position: Position, item: Item, size: int) -> bool:
        """A message over MCS_MAX_MESSAGE_BYTES is recorded as rejected and quarantined."""
        limit = self._settings.max_message_bytes
        if size <= limit:
            return False
        reason = f"message of {size} bytes is over the limit of {limit}"
        self._ingester.reject_position(position, size, reason, item.key)
        source.quarantine(item, self._settings.mailbox_quarantine)
        return True

    def _mark(self, source: Source, item: Item) -> None:
        source.mark(item)


def _resumed_uid(validity: int) -> int:
    """The last UID a previous attempt of this poll finished, if it saw the same UIDVALIDITY."""
    details = activity.info().heartbeat_details
    return int(details[1]) if len(details) == 2 and int(details[0]) == validity else 0
