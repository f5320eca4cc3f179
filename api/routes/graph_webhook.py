"""Microsoft Graph change notifications (`/v1/webhooks/graph/{mailbox}`, no API key: Graph
cannot send one): the subscription's validation handshake, and a notification with the mailbox's
`clientState` triggering its poll at once. Polling stays the safety net."""

import hmac
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from temporalio.service import RPCError

from api.deps import SettingsDep, TemporalDep
from mail.graph import client_state
from models.errors import Forbidden, Invalid, NotFound
from settings import MailboxConfig, Settings
from temporal_client import PREFIX

router = APIRouter(prefix="/v1/webhooks/graph", tags=["webhooks"])
Token = Annotated[str | None, Query(alias="validationToken", max_length=1024)]


def _mailbox(settings: Settings, name: str) -> MailboxConfig:
    found = [m for m in settings.mailboxes if m.name == name and m.provider == "graph"]
    if not found:
        raise NotFound(f"no Graph mailbox {name!r} in MCS_MAILBOXES")
    return found[0]


@router.post("/{mailbox}", status_code=202)
async def graph_notification(
    mailbox: str,
    request: Request,
    settings: SettingsDep,
    temporal: TemporalDep,
    validation_token: Token = None,
) -> Response:
    """Answer Graph's validation (the token, as text/plain), or trigger the mailbox's poll for
    notifications that carry its clientState (403 for any that does not: nothing triggered)."""
    config = _mailbox(settings, mailbox)
    if validation_token is not None:
        # echoed as Graph asks; never sniffed as HTML by a browser someone sent here
        return PlainTextResponse(validation_token, headers={"X-Content-Type-Options": "nosniff"})
    try:
        notes = (await request.json())["value"]
        states = [str(note.get("clientState", "")) for note in notes]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise Invalid("a Graph notification is a JSON object with a list `value`") from error
    expected = client_state(settings, config.name)
    if not states or not all(hmac.compare_digest(s, expected) for s in states):
        raise Forbidden("the notification's clientState is not this mailbox's")
    try:
        await temporal.get_schedule_handle(f"{PREFIX}{config.name}").trigger()
    except RPCError as error:  # no schedule (yet): the next poll takes the mail anyway
        return Response(status_code=202, headers={"X-MCS-Note": f"not triggered: {error}"[:200]})
    return Response(status_code=202)
