"""The gate every request passes before a route reads its body.

- A `/v1` request without a valid key is refused (401) before a byte of its body is read (the
  route's dependency still checks the key's scope).
- A body over its route's limit is refused (413), by its Content-Length or as soon as it grows
  past it.
- A JSON body holding more objects and lists than its route takes is refused (413) before it is
  parsed: 36 MB of `[{}, {}, ...]` grew to about 1 GB in `json.loads`, and to 1.8-8.6 GB in
  pydantic's own parser (every item's error is kept).
- A JSON body holding the NUL character (`\\u0000`) is refused (422): no field takes one.
"""

import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import NO_KEY, find_key, presented_key
from settings import Settings

KEYLESS = ("/v1/healthz", "/v1/readyz", "/v1/webhooks/graph/")  # they answer or check alone
SLACK = 64 * 1024  # JSON around the largest part a body carries
SMALL = 1024 * 1024


@dataclass(frozen=True)
class Limit:
    size: int  # bytes
    containers: int  # objects and lists a JSON body may hold


def limit_for(path: str, settings: Settings) -> Limit:
    """What a request to `path` may carry: sized to what each route takes."""
    message = settings.max_message_bytes
    if path == "/v1/orchestrations/sales-email/run":  # attachments inline, base64: 4/3 of them
        return Limit(message * 4 // 3 + SLACK, 20_000)
    if path == "/v1/emails":  # a raw message, not JSON
        return Limit(message + SLACK, 0)
    if path == "/v1/masterdata/bulk":
        return Limit(32 * SMALL, 1_000_000)
    if path.startswith("/codec/"):  # the Web UI's payloads of one history page
        return Limit(16 * SMALL, 200_000)
    return Limit(SMALL, 20_000)


class Gate:
    """Checks every request's key and body before the app reads it (see the module)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self._app = app
        self._settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.lower(): v for k, v in scope["headers"]}
        if path.startswith("/v1/") and not path.startswith(KEYLESS) and not self._keyed(headers):
            await refuse(send, 401, NO_KEY)
            return
        limit = limit_for(path, self._settings)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit.size:
            await refuse(send, 413, f"the request body is over {limit.size} bytes")
            return
        if b"json" in headers.get(b"content-type", b""):
            await self._json(scope, receive, send, limit)
            return
        await self._streamed(scope, receive, send, limit)

    def _keyed(self, headers: dict[bytes, bytes]) -> bool:
        x_api_key = headers.get(b"x-api-key", b"").decode(errors="replace") or None
        authorization = headers.get(b"authorization", b"").decode(errors="replace") or None
        return find_key(self._settings, presented_key(x_api_key, authorization)) is not None

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: Limit) -> None:
        """Read the body whole (within its limit), count its objects and lists, then hand it
        to the app as one message."""
        received = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            received += message.get("body", b"")
            if len(received) > limit.size:
                await refuse(send, 413, f"the request body is over {limit.size} bytes")
                return
            if not message.get("more_body", False):
                break
        body = bytes(received)  # copied once (up to tens of MB), checked and handed on as it is
        if containers(body, limit.containers) > limit.containers:
            detail = f"the JSON holds more than {limit.containers} objects and lists"
            await refuse(send, 413, detail)
            return
        if holds_nul(body):
            await refuse(send, 422, "the JSON holds a NUL character (\\u0000): no field takes one")
            return
        given = False

        async def replay() -> Message:
            nonlocal given
            if given:
                return await receive()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: Limit) -> None:
        """Pass the body on as it comes, refusing it once it grows past the limit: the app is
        told the client left, and nothing more is read."""
        seen, started, refused = 0, False, False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit.size:
                refused = True
                if not started:
                    await refuse(send, 413, f"the request body is over {limit.size} bytes")
                return {"type": "http.disconnect"}
            return message

        async def noted(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self._app(scope, counted, noted)


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes and all


def containers(body: bytes, limit: int) -> int:
    """How many objects and lists a JSON body opens. Counting the brackets is an upper bound;
    only when it is over `limit` are the brackets inside strings (an email body quoting code)
    left out, so that text never makes a body look like a bomb."""
    found = body.count(b"{") + body.count(b"[")
    if found <= limit:
        return found
    bare = _STRING.sub(b'""', body)
    return bare.count(b"{") + bare.count(b"[")


_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # \u0000, not an escaped backslash and u0000


def holds_nul(body: bytes) -> bool:
    """Whether a JSON body holds the NUL character. No field takes one, and PostgreSQL cannot
    store it in text: a NUL in a company's name was a 500 there."""
    return b"\\u0000" in body and _NUL.search(body) is not None


async def refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
