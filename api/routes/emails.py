"""Raw email intake: `POST /v1/emails` with a message/rfc822 body."""

from fastapi import APIRouter, HTTPException, Request

from api.attachments import by_size, store_attachment, vetted
from api.deps import BlobsDep, OutboxDep, SettingsDep, Submitter
from mail.budget import parse_within_budget
from mail.mime import UnreadableMessage
from models.runs import SubmitAnswer

router = APIRouter(prefix="/v1", tags=["emails"])
RFC822 = "message/rfc822"


@router.post("/emails", status_code=202, response_model=SubmitAnswer)
async def submit_raw_email(
    request: Request, outbox: OutboxDep, settings: SettingsDep, blobs: BlobsDep, caller: Submitter
) -> SubmitAnswer:
    """Accept a raw email (Content-Type: message/rfc822); its run starts right after."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != RFC822:
        raise HTTPException(415, f"Content-Type must be {RFC822}, not {content_type or 'missing'}")
    raw = await request.body()
    if not raw.strip():
        raise HTTPException(422, "the message is empty")
    try:
        parsed = await by_size(len(raw), parse_within_budget, raw)
    except UnreadableMessage as error:
        raise HTTPException(422, f"the message is not taken: {error}") from error
    except Exception as error:  # the email package's many errors on hostile input
        raise HTTPException(422, f"the message cannot be read: {type(error).__name__}") from error
    if not parsed.event.from_email or "@" not in parsed.event.from_email:
        raise HTTPException(422, "the message has no From address")
    limit = settings.max_attachment_bytes
    stored = []
    for attachment, data in zip(parsed.event.attachments, parsed.payloads, strict=True):
        stored.append(await by_size(len(data), store_attachment, attachment, data, blobs, limit))
    event = parsed.event.model_copy(update={"attachments": stored})
    return await outbox.accept(vetted(event, caller, parsed_here=True))
