"""Accepting an email: attachment bytes into the blob store, then one workflow per email."""

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool

from api.downloads import download
from mail.filetypes import sniff_content_type
from mail.sender_auth import sender_of
from models.email import EmailAttachment, EmailEvent, sha256_hex
from models.errors import Invalid, TooLarge
from settings import ApiKey, Settings
from storage.blobs import Blobs, checked

T = TypeVar("T")
INLINE_BYTES = 256 * 1024  # below this, hashing and writing on the event loop beats a thread hop


def _decode(attachment: EmailAttachment) -> bytes:
    try:
        return base64.b64decode(attachment.bytes_b64 or "", validate=True)
    except (binascii.Error, ValueError) as error:
        raise Invalid(f"attachment {attachment.filename!r}: bytes_b64 is not base64") from error


async def attachment_bytes(attachment: EmailAttachment, store: Blobs, settings: Settings) -> bytes:
    """The bytes of an attachment given inline, by URL, or by the sha256 of a file already
    stored (read back: its type is then sniffed from its bytes and its retention refreshed, as
    for any other; a sha256 alone proves nothing about the file)."""
    if attachment.bytes_b64 is not None:
        return _decode(attachment)
    if attachment.url:
        return await download(attachment.url, attachment.filename, settings)
    digest = (attachment.sha256 or "").lower()
    if digest:
        try:
            checked(digest)
        except ValueError as error:
            raise Invalid(f"attachment {attachment.filename!r}: {error}") from None
        known: bool = await run_in_threadpool(store.exists, digest)
        if known:
            return await run_in_threadpool(store.read, digest)
        raise Invalid(
            f"attachment {attachment.filename!r}: no stored file has that sha256; give bytes_b64"
            " or url"
        )
    raise Invalid(f"attachment {attachment.filename!r} needs bytes_b64 or url")


def store_attachment(
    attachment: EmailAttachment, data: bytes, store: Blobs, limit: int
) -> EmailAttachment:
    """Check one attachment's bytes, store them, and return its by-reference form."""
    name = attachment.filename
    if len(data) > limit:
        raise TooLarge(f"attachment {name!r} is {len(data)} bytes, over the limit of {limit}")
    content_type = sniff_content_type(data, attachment.content_type)
    claims_pdf = attachment.content_type.lower() == "application/pdf" or name.lower().endswith(
        ".pdf"
    )
    if claims_pdf and content_type != "application/pdf":
        raise Invalid(f"attachment {name!r} claims to be a PDF but its bytes are not a PDF")
    if attachment.sha256 and attachment.sha256.lower() != sha256_hex(data):
        raise Invalid(f"attachment {name!r}: sha256 does not match its bytes")
    digest = store.put(data)
    return attachment.model_copy(
        update={
            "content_type": content_type,
            "size": len(data),
            "sha256": digest,
            "bytes_b64": None,
            "url": None,
        }
    )


async def by_size(size: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` for `size` bytes of input: on the event loop when small, else in the thread pool
    (a thread hop costs more than hashing or parsing a small email); always in the thread pool
    when it writes to a remote blob store."""
    remote = any(isinstance(arg, Blobs) and arg.remote for arg in args)
    if size <= INLINE_BYTES and not remote:
        return fn(*args)
    return await run_in_threadpool(fn, *args)


def stored_inline(event: EmailEvent, store: Blobs, limit: int) -> EmailEvent:
    """The email with its inline (bytes_b64) attachments stored and carried by reference, as the
    intake hands an email to its run (for callers that start runs themselves: tests, benches)."""
    refs = [_decode_and_store(a, store, limit) for a in event.attachments]
    return event.model_copy(update={"attachments": refs})


def _decode_and_store(attachment: EmailAttachment, store: Blobs, limit: int) -> EmailAttachment:
    return store_attachment(attachment, _decode(attachment), store, limit)


def vetted(event: EmailEvent, caller: ApiKey, parsed_here: bool) -> EmailEvent:
    """The email as far as the caller can vouch for it: what a mail server found of its sender
    (`auth_results`) counts only from a key with `emails:trusted` (a gateway relaying what our MX
    received); for a JSON email (`parsed_here` False), a `from` whose address is not `from_email`
    or is malformed is a sender problem (the run is reviewed)."""
    updates: dict[str, object] = {}
    if not caller.allows("emails:trusted"):
        updates["auth_results"] = []
    if not parsed_here:
        sender, problem = sender_of(event.from_) if event.from_.strip() else ("", "")
        if sender and sender != event.from_email and not problem:
            problem = "the From: names another address than from_email"
        updates["sender_problem"] = problem
    return event.model_copy(update=updates)


def ensure_message_id(event: EmailEvent) -> EmailEvent:
    """An email without Message-ID gets one derived from its content, so a resubmission matches."""
    if event.message_id.strip():
        return event
    content = event.without_bytes().model_dump_json(exclude={"received_at", "provider", "uid"})
    return event.model_copy(update={"message_id": f"<{sha256_hex(content)[:40]}@mcs.generated>"})
