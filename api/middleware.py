"""Plain ASGI middleware of the API: a request id for every request, request durations."""

import re
import time
import uuid

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry.logs import REQUEST_ID

REQUEST_SECONDS = Histogram(
    "mcs_api_request_seconds", "API request duration", ["method", "route", "status"]
)


class RequestId:
    """Every request gets an id: the caller's `X-Request-ID` when it is a sane token, or a new
    one. It is in every log line written while the request is served, and echoed back."""

    HEADER = b"x-request-id"
    SANE = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(self.HEADER, b"")
        request_id = given.decode() if self.SANE.match(given) else uuid.uuid4().hex

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (self.HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self._app(scope, receive, echo)
        finally:
            REQUEST_ID.reset(token)


class MeasureRequests:
    """Request durations by route into Prometheus (plain ASGI: cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUEST_SECONDS.labels(scope["method"], path, status).observe(elapsed)
