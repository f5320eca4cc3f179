"""Reading email: the one MIME parser of every intake channel (API upload, webhook, IMAP poll)."""

from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from mail.filetypes import sniff_content_type
from models.email import EmailAttachment, EmailEvent, sha256_hex

__all__ = ["ParsedEmail", "parse_message", "sniff_content_type"]


@dataclass
class ParsedEmail:
    """An EmailEvent plus the bytes of its attachments, in the same order."""

    event: EmailEvent
    payloads: list[bytes] = field(default_factory=list)


def _addresses(message: EmailMessage, header: str) -> list[str]:
    values = [str(v) for v in message.get_all(header, [])]
    return [address.lower() for _name, address in getaddresses(values) if address]


def _received_at(message: EmailMessage) -> datetime | None:
    try:
        return parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
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


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse a raw RFC 822 message into an EmailEvent and its attachment bytes."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    sender_name, sender = parseaddr(str(message.get("From", "")))
    parsed = ParsedEmail(
        event=EmailEvent(
            provider="rfc822",
            message_id=str(message.get("Message-ID", "") or "").strip(),
            **{"from": str(message.get("From", ""))},
            from_email=sender or sender_name,
            to=_addresses(message, "To"),
            cc=_addresses(message, "Cc"),
            subject=str(message.get("Subject", "") or ""),
            received_at=_received_at(message),
        )
    )
    _walk(message, parsed)
    if not parsed.event.message_id:
        # line endings differ between an IMAP server's copy and an uploaded file of the same mail
        canonical = raw.replace(b"\r\n", b"\n").strip()
        parsed.event.message_id = f"<{sha256_hex(canonical)[:40]}@mcs.generated>"
    return parsed


def _walk(message: EmailMessage, parsed: ParsedEmail) -> None:
    event = parsed.event
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        content_type = part.get_content_type()
        if filename is None and disposition != "attachment":
            if content_type == "text/plain" and not event.body_text:
                event.body_text = _text(part)
            elif content_type == "text/html" and not event.body_html:
                event.body_html = _text(part)
            continue
        if disposition == "inline" and content_type.startswith("image/"):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
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
