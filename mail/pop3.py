"""POP3 as MCS uses it: new messages by UIDL (the UIDLs handled are recorded per mailbox, so
`keep` never repeats a mail), exact bytes by RETR, `delete` only once a message is handled."""

import poplib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from mail.ingest import Ingester
from mail.sources import FINISHED, Item, number_of
from mail.tls import tls_context, verified
from models.ingest import IngestStatus
from settings import MailboxConfig, Settings


class Pop3Source:
    """A POP3 maildrop as a mailbox source. Deletions take effect at QUIT: one lost with the
    connection is made again by the next poll (the message is recorded as handled)."""

    provider = "pop3"
    validity = 0
    last = 0

    def __init__(self, conn: poplib.POP3, config: MailboxConfig, ingester: Ingester) -> None:
        self._conn, self._config, self._ingester = conn, config, ingester
        self._numbers: dict[str, str] = {}  # UIDL -> message number in this session

    @classmethod
    @contextmanager
    def open(
        cls, config: MailboxConfig, settings: Settings, ingester: Ingester
    ) -> Iterator["Pop3Source"]:
        """Logged in over TLS (`tls: true`), STLS (`"starttls"`) or plain text (`false`)."""
        # a message line is at most the message (its size is checked before RETR)
        poplib._MAXLINE = max(poplib._MAXLINE, settings.max_message_bytes)  # type: ignore[attr-defined]
        host, port, timeout = config.host, config.port, config.timeout_seconds
        conn: poplib.POP3
        with verified("POP3", host, port):
            if config.tls is True:
                context = tls_context(settings.ca_file)
                conn = poplib.POP3_SSL(host, port, timeout=timeout, context=context)
            else:
                conn = poplib.POP3(host, port, timeout=timeout)
                if config.tls == "starttls":
                    conn.stls(tls_context(settings.ca_file))
        try:
            conn.user(config.user)
            conn.pass_(config.password)
            yield cls(conn, config, ingester)
            conn.quit()  # commits the deletions
        finally:
            conn.close()

    def pending(self, limit: int) -> list[Item]:
        """The maildrop's messages whose UIDL this mailbox has not finished; a handled message
        still there under `delete` is deleted now."""
        _response, lines, _octets = self._conn.uidl()
        _response, listed, _octets = self._conn.list()
        sizes = dict(line.decode("ascii", "replace").split(" ", 1) for line in listed)
        entries = [line.decode("ascii", "replace").split(" ", 1) for line in lines]
        keys = [uidl for _number, uidl in entries]
        known = self._ingester.handled_items(self._config, keys)
        items = []
        for (number, _uidl), key in zip(entries, keys, strict=True):
            self._numbers[key] = number
            if known.get(key) in FINISHED:
                if known[key] == IngestStatus.DONE and self._config.after == "delete":
                    self._conn.dele(number)
                continue
            items.append(Item(key, number_of(key), int(sizes.get(number, "0"))))
        return items[:limit]

    def fetch(self, item: Item) -> tuple[bytes, datetime | None]:
        try:
            _response, lines, _octets = self._conn.retr(self._numbers[item.key])
        except poplib.error_proto as error:  # deleted by another session since the listing
            raise LookupError(f"message {item.key} could not be read: {error}") from error
        return b"\r\n".join(lines) + b"\r\n", None

    def mark(self, item: Item) -> None:
        if self._config.after == "delete":
            self._conn.dele(self._numbers[item.key])

    def quarantine(self, item: Item, folder: str) -> None:
        """Left on the server for a person (POP3 has no folders); recorded, never taken again."""

    def handled(self, item: Item) -> None:
        """Nothing to move: the UIDL is recorded with the message."""

    def finish(self, complete: bool) -> None:
        """Nothing to keep: the deletions are committed when the session quits."""
