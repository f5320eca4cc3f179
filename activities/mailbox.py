"""The IMAP mailbox: poll new messages, record each once, start its run, then mark it."""

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, U
from temporalio import activity

from activities.ingest import Ingester
from settings import MailboxConfig, Settings

log = logging.getLogger(__name__)
MESSAGES_PER_POLL = 200
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID = re.compile(rb"UID (\d+)")


@dataclass(frozen=True, kw_only=True)
class PollInput:
    mailbox: str


@dataclass(frozen=True, kw_only=True)
class PollResult:
    mailbox: str
    uidvalidity: int
    seen: int = 0
    started: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_uid: int = 0


@contextmanager
def open_mailbox(config: MailboxConfig) -> Iterator[BaseMailBox]:
    """A logged-in connection with a timeout on every read, capabilities refreshed after login."""
    box: BaseMailBox
    if config.tls is True:
        box = MailBox(config.host, config.port, timeout=config.timeout_seconds)
    elif config.tls == "starttls":
        box = MailBoxStartTls(config.host, config.port, timeout=config.timeout_seconds)
    else:
        box = MailBoxUnencrypted(config.host, config.port, timeout=config.timeout_seconds)
    if config.oauth2_token:
        box.xoauth2(config.user, config.oauth2_token, initial_folder=None)
    else:
        box.login(config.user, config.password, initial_folder=None)
    _status, data = box.client.capability()
    box.client.capabilities = tuple(data[-1].decode().upper().split())
    try:
        yield box
    finally:
        box.logout()


def fetch_sizes(box: BaseMailBox, uids: list[int]) -> dict[int, int]:
    """RFC822.SIZE of each UID, without fetching bodies."""
    sizes: dict[int, int] = {}
    for start in range(0, len(uids), 200):
        chunk = ",".join(str(u) for u in uids[start : start + 200])
        _status, data = box.client.uid("FETCH", chunk, "(RFC822.SIZE)")
        for item in data:
            line = item if isinstance(item, bytes) else item[0] if isinstance(item, tuple) else b""
            uid, size = _UID.search(line), _SIZE.search(line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def fetch_raw(box: BaseMailBox, uid: int) -> tuple[bytes, datetime | None]:
    """The server's exact bytes of a message (BODY.PEEK: flags untouched) and its INTERNALDATE."""
    _status, data = box.client.uid("FETCH", str(uid), "(INTERNALDATE BODY.PEEK[])")
    for item in data:
        if isinstance(item, tuple):
            found = _INTERNALDATE.search(item[0])
            received = (
                datetime.strptime(found.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
                if found
                else None
            )
            return bytes(item[1]), received
    raise LookupError(f"UID {uid} vanished before it could be fetched")


def apply_action(box: BaseMailBox, config: MailboxConfig, uid: int) -> None:
    """Mark a handled message: \\Seen, a keyword or a move (raw UID commands: no EXPUNGE)."""
    kind, _, argument = config.after.partition(":")
    if kind == "seen":
        box.client.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Seen)")
    elif kind == "keyword":
        box.client.uid("STORE", str(uid), "+FLAGS.SILENT", f"({argument})")
    elif "MOVE" in box.client.capabilities:
        box.client.uid("MOVE", str(uid), argument)
    else:
        box.client.uid("COPY", str(uid), argument)
        box.client.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in box.client.capabilities:
            box.client.uid("EXPUNGE", str(uid))


class MailboxActivities:
    """Polls configured mailboxes; every step is recorded so a crash neither loses nor repeats."""

    def __init__(self, settings: Settings, ingester: Ingester) -> None:
        self._settings = settings
        self._ingester = ingester

    @activity.defn
    def poll_mailbox(self, input: PollInput) -> PollResult:
        """Ingest the new messages (a bounded batch per poll), heartbeating per message."""
        config = self._settings.mailbox(input.mailbox)
        with open_mailbox(config) as box:
            box.folder.set(config.folder)
            validity = int(box.folder.status(config.folder, ["UIDVALIDITY"])["UIDVALIDITY"])
            target = config.after.partition(":")[2] if config.after.startswith("move:") else ""
            if target and not box.folder.exists(target):
                box.folder.create(target)
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
            return PollResult(
                mailbox=config.name,
                uidvalidity=validity,
                last_uid=max(uids, default=last),
                **counts,
            )

    def _one(
        self, box: BaseMailBox, config: MailboxConfig, validity: int, uid: int, size: int
    ) -> str:
        limit = self._settings.max_message_bytes
        if size > limit:
            reason = f"message of {size} bytes is over the limit of {limit}"
            self._ingester.reject(config, validity, uid, size, reason)
            return "rejected"
        raw, received = fetch_raw(box, uid)
        position = (config.name, config.folder, validity, uid)
        outcome = self._ingester.ingest(raw, position, received)
        if outcome != "rejected":
            self._apply(box, config, uid)
            self._ingester.done(raw)
        return outcome

    def _apply(self, box: BaseMailBox, config: MailboxConfig, uid: int) -> None:
        apply_action(box, config, uid)


def _resumed_uid(validity: int) -> int:
    """The last UID a previous attempt of this poll finished, if it saw the same UIDVALIDITY."""
    details = activity.info().heartbeat_details
    return int(details[1]) if len(details) == 2 and int(details[0]) == validity else 0
