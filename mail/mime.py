"""Reading email: the one MIME parser of every intake channel (API upload, webhook, IMAP poll)."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from pydantic import ValidationError

from mail.filetypes import sniff_content_type
from mail.policy import POLICY
from mail.sender_auth import MAX_HEADER_CHARS, MAX_HEADERS, sender_of
from models.email import EmailAttachment, EmailEvent, cut_body, one_line, sha256_hex
from models.errors import first_error

__all__ = ["ParsedEmail", "UnreadableMessage", "parse_message", "sniff_content_type"]


@dataclass
class ParsedEmail:
    """An EmailEvent plus the bytes of its attachments, in the same order."""

    event: EmailEvent
    payloads: list[bytes] = field(default_factory=list)


def _addresses(message: EmailMessage, header: str) -> list[str]:
    try:
        values = [str(v) for v in message.get_all(header, [])]
    except Exception:  # a malformed address header: as it stands
        values = [str(v) for k, v in message.raw_items() if k.lower() == header.lower()]
    return [one_line(a).lower() for _name, a in getaddresses(values) if a and "@" in a]


def _received_at(message: EmailMessage) -> datetime | None:
    date = _header(message, "Date")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError, IndexError):
        return None


# what mail clients really mean by a declared charset, then the usual suspects, in order
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "ascii": "utf-8", "us-ascii": "utf-8"}
_FALLBACKS = ("utf-8", "gb18030", "big5", "cp1252")


def _plausible(text: str) -> float:
    """Share of characters that real mail text is made of (ASCII, Latin letters, CJK)."""
    good = sum(
        c.isascii() or c.isalpha() and ("\u00c0" <= c <= "\u024f" or "\u4e00" <= c <= "\u9fff")
        or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"
        for c in text
    )  # fmt: skip
    return good / max(len(text), 1)


def _text(part: EmailMessage) -> str:
    """A text part in its declared charset (or the superset clients mean); else the likeliest."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = (part.get_content_charset() or "").lower()
    try:
        return payload.decode(_SUPERSETS.get(declared, declared) or "utf-8")
    except (LookupError, UnicodeDecodeError):
        pass
    decoded = []
    for charset in _FALLBACKS:
        try:
            decoded.append(payload.decode(charset))
        except UnicodeDecodeError:
            continue
    return max(decoded, key=_plausible) if decoded else payload.decode("latin-1")


class UnreadableMessage(ValueError):
    """A message MCS does not take, and why (the API answers 4xx; a mailbox records REJECTED)."""


MAX_ATTACHMENTS = 100
MAX_DEPTH = 20  # MIME nesting: real mail nests a few levels; a thousand is an attack


def _header(message: EmailMessage, name: str) -> str:
    """A header's value; one the parser chokes on is taken as it stands in the message."""
    try:
        return str(message.get(name, "") or "")
    except Exception:  # the email package raises many kinds on malformed headers
        raw = [value for key, value in message.raw_items() if key.lower() == name.lower()]
        return str(raw[0]) if raw else ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    """The sender and what is wrong with the From:, read from the header as it stands (the
    parsed header object renders `a@b <c@d>` as `a@b`: the address in angle brackets is lost)."""
    raw = [one_line(str(v)) for k, v in message.raw_items() if k.lower() == "from"]
    sender, problem = sender_of(raw[0] if raw else "")
    if len(raw) > 1:
        problem = "the message has several From: headers"
    return sender, problem


def _auth_results(message: EmailMessage) -> list[str]:
    """The Authentication-Results headers, topmost first, as they stand (each one line)."""
    found = [v for k, v in message.raw_items() if k.lower() == "authentication-results"]
    return [one_line(str(v))[:MAX_HEADER_CHARS] for v in found[:MAX_HEADERS]]


def parse_message(raw: bytes, max_attachments: int = MAX_ATTACHMENTS) -> ParsedEmail:
    """Parse a raw RFC 822 message into an EmailEvent and its attachment bytes; UnreadableMessage
    for a message too deep, with too many attachments, or that the parser cannot read."""
    try:
        message = message_from_bytes(raw, policy=POLICY)
    except RecursionError as error:
        raise UnreadableMessage(f"MIME nesting is deeper than {MAX_DEPTH} levels") from error
    assert isinstance(message, EmailMessage)
    sender, problem = _sender(message)
    if not sender:
        raise UnreadableMessage("the From: holds no sender address (in angle brackets)")
    message_id = _header(message, "Message-ID").strip()
    try:
        event = EmailEvent(
            provider="rfc822",
            message_id=message_id if message_id.strip("<> ") else "",
            **{"from": one_line(_header(message, "From"))},
            from_email=sender,
            sender_problem=problem,
            to=_addresses(message, "To"),
            cc=_addresses(message, "Cc"),
            subject=one_line(_header(message, "Subject")),
            received_at=_received_at(message),
            auth_results=_auth_results(message),
        )
    except ValidationError as error:  # an address or Message-ID past its limit
        raise UnreadableMessage(first_error(error)) from None
    parsed = ParsedEmail(event=event)
    _walk(message, parsed, max_attachments)
    if not parsed.event.message_id:
        # line endings differ between an IMAP server's copy and an uploaded file of the same mail
        canonical = raw.replace(b"\r\n", b"\n").strip()
        parsed.event.message_id = f"<{sha256_hex(canonical)[:40]}@mcs.generated>"
    return parsed


def _leaves(message: EmailMessage) -> Iterator[EmailMessage]:
    """The non-multipart parts, depth first, without recursion (and refusing absurd depths)."""
    stack: list[tuple[EmailMessage, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnreadableMessage(f"MIME nesting is deeper than {MAX_DEPTH} levels")
        if part.is_multipart():
            children = part.get_payload()
            assert isinstance(children, list)
            parts = [c for c in reversed(children) if isinstance(c, EmailMessage)]
            stack.extend((child, depth + 1) for child in parts)
        else:
            yield part


def _walk(message: EmailMessage, parsed: ParsedEmail, max_attachments: int) -> None:
    event = parsed.event
    for part in _leaves(message):
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        content_type = part.get_content_type()
        if filename is None and disposition != "attachment":
            if content_type == "text/plain" and not event.body_text:
                event.body_text = cut_body(_text(part))
            elif content_type == "text/html" and not event.body_html:
                event.body_html = cut_body(_text(part))
            continue
        if disposition == "inline" and content_type.startswith("image/"):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        if len(event.attachments) >= max_attachments:
            raise UnreadableMessage(f"more than {max_attachments} attachments")
        event.attachments.append(
            EmailAttachment(
                attachment_id=str(len(event.attachments) + 1),
                filename=filename or f"attachment-{len(event.attachments) + 1}",
                content_type=sniff_content_type(data, content_type),
                size=len(data),
                sha256=sha256_hex(data),
            )
        )
        parsed.payloads.append(data)
