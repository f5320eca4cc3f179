"""Reading a mail within limits no sender controls: header fields and the header block over their
limits are refused before any parsing, and a mail over INLINE_BYTES is parsed in a child process
that is killed at the budget (`PARSE_TIMEOUT`).

The standard parser's cost grows faster than a header's length (a 100 KB Content-Type parameter
list took 0.8 s of CPU here, and a mail may hold hundreds of them): a crafted mail otherwise
held a mailbox's poll for minutes, past its heartbeat, and every retry parsed it again.
"""

import multiprocessing
import re
from multiprocessing.connection import Connection

from mail.mime import ParsedEmail, UnreadableMessage, parse_message

PARSE_SECONDS = 10.0
INLINE_BYTES = 64 * 1024  # smaller mails parse in well under a second whatever they hold
MAX_HEADER_BLOCK = 256 * 1024
MAX_FIELD = 32 * 1024  # one header field, folded lines joined
FIELD = re.compile(rb"^[!-9;-~]{1,76}:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.MULTILINE)
BLANK_LINE = re.compile(rb"\r?\n\r?\n")


class ParseTimeout(UnreadableMessage):
    """The mail took longer than the budget to parse."""

    code = "PARSE_TIMEOUT"


def precheck(raw: bytes) -> None:
    """UnreadableMessage for a header block or a header field (of the mail or any part) over
    its limit: checked on the bytes, in linear time."""
    end = BLANK_LINE.search(raw)
    block = end.start() if end else len(raw)
    if block > MAX_HEADER_BLOCK:
        raise UnreadableMessage(f"the header block is over {MAX_HEADER_BLOCK} bytes")
    for field in FIELD.finditer(raw):
        if field.end() - field.start() > MAX_FIELD:
            name = field.group().split(b":", 1)[0][:40].decode(errors="replace")
            raise UnreadableMessage(f"the header field {name!r} is over {MAX_FIELD} bytes")


def parse_within_budget(raw: bytes, seconds: float | None = None) -> ParsedEmail:
    """`parse_message`, after the pre-check, in a child process for a mail over INLINE_BYTES:
    ParseTimeout when it takes longer than `seconds` (PARSE_SECONDS; the child is killed)."""
    seconds = PARSE_SECONDS if seconds is None else seconds
    precheck(raw)
    if len(raw) <= INLINE_BYTES:
        return parse_message(raw)
    context = multiprocessing.get_context("forkserver")  # forked from a clean process
    context.set_forkserver_preload(["mail.mime"])  # each child starts with the parser loaded
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_parse_into, args=(raw, sending), daemon=True)
    child.start()
    sending.close()
    try:
        if not receiving.poll(seconds):
            raise ParseTimeout(f"PARSE_TIMEOUT: the message took over {seconds:.0f} s to parse")
        outcome = receiving.recv()
    except EOFError as error:
        raise UnreadableMessage("the parser stopped without an answer") from error
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiving.close()
    if isinstance(outcome, UnreadableMessage):
        raise outcome
    assert isinstance(outcome, ParsedEmail)
    return outcome


def _parse_into(raw: bytes, answer: Connection) -> None:
    """In the child: the parsed mail, or why it is unreadable (an exception that pickles)."""
    try:
        answer.send(parse_message(raw))
    except UnreadableMessage as error:
        answer.send(UnreadableMessage(str(error)))
    except Exception as error:  # the email package's many errors on hostile input
        answer.send(UnreadableMessage(f"{type(error).__name__}: {str(error)[:200]}"))
