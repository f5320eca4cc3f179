"""The mailbox of a configured provider, opened for one poll (IMAP, Microsoft Graph or POP3)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mail.graph import GraphSource
from mail.imap import ImapSource
from mail.ingest import Ingester
from mail.pop3 import Pop3Source
from mail.sources import Source
from settings import MailboxConfig, Settings


@contextmanager
def open_source(
    config: MailboxConfig,
    settings: Settings,
    ingester: Ingester,
    resumed: Callable[[int], int] = lambda validity: 0,
) -> Iterator[Source]:
    """The mailbox of `config`, logged in for one poll, by its provider (`resumed`: the last
    IMAP UID a failed attempt of this poll finished, for a UIDVALIDITY)."""
    if config.provider == "graph":
        with GraphSource.open(config, settings, ingester) as graph:
            yield graph
    elif config.provider == "pop3":
        with Pop3Source.open(config, settings, ingester) as pop3:
            yield pop3
    else:
        with ImapSource.open(config, settings, ingester, resumed) as imap:
            yield imap
