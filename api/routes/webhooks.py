"""Inbound webhooks: an EmailEvent pushed by a mail gateway."""

from fastapi import APIRouter

from api.deps import BlobsDep, OutboxDep, SettingsDep, Submitter
from api.routes.orchestrations import accept_event
from models.email import EmailEvent
from models.runs import SubmitAnswer

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/email", status_code=202, response_model=SubmitAnswer)
async def email_webhook(
    event: EmailEvent, outbox: OutboxDep, settings: SettingsDep, blobs: BlobsDep, caller: Submitter
) -> SubmitAnswer:
    """Accept an EmailEvent (attachments by bytes_b64 or url) from a webhook for its run."""
    if event.provider == "api":
        event = event.model_copy(update={"provider": "webhook"})
    return await accept_event(event, outbox, settings, blobs, caller)
