"""IMAP as MCS uses it: log in, fetch sizes and exact bytes by UID, mark a handled message."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, U

from mail.ingest import Ingester
from mail.sources import Item
from mail.tls import tls_context, verified
from settings import MailboxConfig, Settings

_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID = re.compile(rb"UID (\d+)")


@contextmanager
def open_mailbox(config: MailboxConfig, ca_file: str = "") -> Iterator[BaseMailBox]:
    """A logged-in connection with a timeout on every read, capabilities refreshed after login;
    over TLS, the server's certificate and host name are verified (`ca_file`: a private CA)."""
    box: BaseMailBox
    host, port, timeout = config.host, config.port, config.timeout_seconds
    with verified("IMAP", host, port):
        if config.tls is True:
            box = MailBox(host, port, timeout=timeout, ssl_context=tls_context(ca_file))
        elif config.tls == "starttls":
            box = MailBoxStartTls(host, port, timeout=timeout, ssl_context=tls_context(ca_file))
        else:
            box = MailBoxUnencrypted(host, port, timeout=timeout)
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


class ImapSource:
    """An IMAP folder as a mailbox source: new messages are those above the stored UID."""

    provider = "imap"

    def __init__(
        self,
        box: BaseMailBox,
        config: MailboxConfig,
        ingester: Ingester,
        resumed: Callable[[int], int],
    ) -> None:
        self._box, self._config, self._ingester = box, config, ingester
        self.validity = int(box.folder.status(config.folder, ["UIDVALIDITY"])["UIDVALIDITY"])
        self.last = ingester.position(config, self.validity, resumed(self.validity))

    @classmethod
    @contextmanager
    def open(
        cls,
        config: MailboxConfig,
        settings: Settings,
        ingester: Ingester,
        resumed: Callable[[int], int],
    ) -> Iterator["ImapSource"]:
        """The folder, with the `move:` target and the quarantine folder created if missing."""
        with open_mailbox(config, settings.ca_file) as box:
            box.folder.set(config.folder)
            target = config.after.partition(":")[2] if config.after.startswith("move:") else ""
            for folder in {target, settings.mailbox_quarantine} - {""}:
                if not box.folder.exists(folder):
                    box.folder.create(folder)
            yield cls(box, config, ingester, resumed)

    def pending(self, limit: int) -> list[Item]:
        found = self._box.uids(AND(uid=U(str(self.last + 1), "*")), charset=None)
        uids = sorted(u for u in map(int, found) if u > self.last)[:limit]
        sizes = fetch_sizes(self._box, uids)
        return [Item(str(uid), uid, sizes.get(uid, 0)) for uid in uids]

    def fetch(self, item: Item) -> tuple[bytes, datetime | None]:
        return fetch_raw(self._box, item.uid)

    def mark(self, item: Item) -> None:
        apply_action(self._box, self._config, item.uid)

    def quarantine(self, item: Item, folder: str) -> None:
        """Moved to `folder` when set, else handled like any other (`after`), so no later poll
        stops at it."""
        config = self._config
        if folder:
            config = config.model_copy(update={"after": f"move:{folder}"})
        apply_action(self._box, config, item.uid)

    def handled(self, item: Item) -> None:
        self._ingester.advance(self._config, self.validity, item.uid)
        self.last = max(self.last, item.uid)

    def finish(self, complete: bool) -> None:
        """Nothing to keep: the UID position moved with each message."""
