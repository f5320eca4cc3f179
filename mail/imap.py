"""IMAP as MCS uses it: log in, fetch sizes and exact bytes by UID, mark a handled message."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted

from mail.tls import tls_context, verified
from settings import MailboxConfig

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
