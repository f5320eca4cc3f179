"""The IMAP mailbox: poll new messages, record each once, start its run, then mark it."""

import logging
import time

from imap_tools import AND, BaseMailBox, U
from temporalio import activity

from mail.imap import apply_action, fetch_raw, fetch_sizes, open_mailbox
from mail.ingest import Ingester
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
        with open_mailbox(config, self._settings.ca_file) as box:
            box.folder.set(config.folder)
            validity = int(box.folder.status(config.folder, ["UIDVALIDITY"])["UIDVALIDITY"])
            target = config.after.partition(":")[2] if config.after.startswith("move:") else ""
            for folder in {target, self._settings.mailbox_quarantine} - {""}:
                if not box.folder.exists(folder):
                    box.folder.create(folder)
            last = self._ingester.position(config, validity, _resumed_uid(validity))
            uids = [int(u) for u in box.uids(AND(uid=U(str(last + 1), "*")), charset=None)]
            uids = sorted(u for u in uids if u > last)[:MESSAGES_PER_POLL]
            counts = {"seen": 0, "started": 0, "duplicates": 0, "rejected": 0}
            sizes = fetch_sizes(box, uids)
            for uid in uids:
                outcome = self._one(box, config, validity, uid, sizes.get(uid, 0))
                counts["seen"] += 1
                counts[outcome] += 1
                self._ingester.advance(config, validity, uid)
                activity.heartbeat(validity, uid)
            MAILBOX_POLLED.labels(config.name).set(time.time())
            return PollResult(
                mailbox=config.name,
                uidvalidity=validity,
                last_uid=max(uids, default=last),
                **counts,
            )

    def _one(
        self, box: BaseMailBox, config: MailboxConfig, validity: int, uid: int, size: int
    ) -> str:
        """Take one message; one that cannot be taken is quarantined and the poll goes on."""
        outcome = self._take(box, config, validity, uid, size)
        EMAILS_INGESTED.labels("imap", INGEST_OUTCOMES[outcome]).inc()
        return outcome

    def _take(
        self, box: BaseMailBox, config: MailboxConfig, validity: int, uid: int, size: int
    ) -> str:
        limit = self._settings.max_message_bytes
        if size > limit:
            reason = f"message of {size} bytes is over the limit of {limit}"
            self._ingester.reject(config, validity, uid, size, reason)
            self._quarantine(box, config, uid)
            return "rejected"
        try:
            raw, received = fetch_raw(box, uid)
        except LookupError:  # deleted by someone else since the search: nothing to take
            return "rejected"
        position = (config.name, config.folder, validity, uid)
        outcome = self._ingester.ingest(raw, position, received)
        if outcome == "rejected":
            self._quarantine(box, config, uid)
        else:
            self._apply(box, config, uid)
            self._ingester.done(raw)
        return outcome

    def _apply(self, box: BaseMailBox, config: MailboxConfig, uid: int) -> None:
        apply_action(box, config, uid)

    def _quarantine(self, box: BaseMailBox, config: MailboxConfig, uid: int) -> None:
        """Mark a message that will not be processed: moved to MCS_MAILBOX_QUARANTINE when set,
        else handled like any other (`after`), so no later poll stops at it."""
        folder = self._settings.mailbox_quarantine  # created at the start of the poll
        if folder:
            config = config.model_copy(update={"after": f"move:{folder}"})
        self._apply(box, config, uid)


def _resumed_uid(validity: int) -> int:
    """The last UID a previous attempt of this poll finished, if it saw the same UIDVALIDITY."""
    details = activity.info().heartbeat_details
    return int(details[1]) if len(details) == 2 and int(details[0]) == validity else 0
