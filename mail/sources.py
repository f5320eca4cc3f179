"""The one interface every mailbox provider offers the poll: what is new, a message's exact
bytes, and marking it done or quarantined. The poll, the ingester, the quarantine, the dedupe and
the metrics stay one code path (activities/mailbox.py); each provider is one module, opened by
mail/providers.py."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.ingest import IngestStatus

FINISHED = (IngestStatus.DONE, IngestStatus.REJECTED)  # a message in these states is not taken


@dataclass(frozen=True)
class Item:
    """One message of a mailbox as its provider names it."""

    key: str  # the provider's id: an IMAP UID, a Graph message id, a POP3 UIDL
    uid: int  # its position number (IMAP: the UID; Graph, POP3: a number derived from `key`)
    size: int = 0  # bytes, when the provider says before the fetch (0: unknown)


class Source(Protocol):
    """A logged-in mailbox, for one poll."""

    provider: str
    validity: int  # IMAP: the folder's UIDVALIDITY; others: 0
    last: int  # IMAP: the highest UID handled; others: 0

    def pending(self, limit: int) -> list[Item]:
        """The messages not yet fully handled, oldest first, at most `limit`."""

    def fetch(self, item: Item) -> tuple[bytes, datetime | None]:
        """The message's exact bytes and when the server received it; LookupError: gone."""

    def mark(self, item: Item) -> None:
        """The mailbox's `after` action for a message that was taken."""

    def quarantine(self, item: Item, folder: str) -> None:
        """Set aside a message that will not be processed (`folder`: MCS_MAILBOX_QUARANTINE)."""

    def handled(self, item: Item) -> None:
        """The message is recorded, started and marked: the poll moves past it."""

    def finish(self, complete: bool) -> None:
        """The poll ends; `complete`: every pending message was handled (a cursor may move)."""


def number_of(key: str) -> int:
    """A stable position number for a provider's string id (62 bits: never 0, never negative)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 2 or 1
