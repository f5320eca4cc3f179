"""The FastAPI app factory and its lifespan (engine, Temporal client, blob store, outbox)."""

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Histogram, make_asgi_app
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import review_pages
from api.outbox import Outbox
from api.problems import problem_answer
from api.routes import (
    audit,
    codec,
    companies,
    contacts,
    customers,
    emails,
    files,
    health,
    masterdata,
    orchestrations,
    products,
    webhooks,
)
from api.runs import count_reviews
from mail.send import Mailer
from models.db import make_engine
from models.errors import Problem
from models.migrate import ensure_migrated
from settings import Settings, get_settings
from telemetry.logs import REQUEST_ID
from telemetry.redact import RedactingFilter
from temporal_client import connect

REQUEST_SECONDS = Histogram(
    "mcs_api_request_seconds", "API request duration", ["method", "route", "status"]
)


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """The API app; `temporal` may be given (tests), otherwise it is connected at start-up."""
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(config.db_url)
        ensure_migrated(engine)
        app.state.engine = engine
        app.state.blobs = config.blobs()
        app.state.temporal = temporal or await connect(config)
        app.state.outbox = outbox = Outbox(
            engine, app.state.temporal, config.task_queue, mailer=Mailer(config)
        )
        tasks = [
            asyncio.create_task(outbox.run(), name="intake-outbox"),
            asyncio.create_task(count_reviews(app.state.temporal), name="review-queue"),
        ]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        engine.dispose()

    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactingFilter) for f in access_log.filters):
        access_log.addFilter(RedactingFilter())  # signed URLs: anyone reading could fetch the PDF
    app = FastAPI(title="MCS sales-email platform", version="0.1.0", lifespan=lifespan)
    app.state.settings = config
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Problem, problem_answer)
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(LimitBody, limit=config.max_message_bytes + BODY_SLACK)
    app.add_middleware(MeasureRequests)
    app.add_middleware(RequestId)
    return app


BODY_SLACK = 64 * 1024  # JSON around the largest message we take
ROUTERS = [
    m.router
    for m in (
        orchestrations, emails, webhooks, masterdata, customers, contacts, companies, products,
        audit, files, codec, health, review_pages,
    )
]  # fmt: skip


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 (each error's type, location, message and limits) without the `input` it
    echoes: the caller sent it, and a 25,000-address list came back whole, 760 KB of it."""
    assert isinstance(error, RequestValidationError)
    detail = [{k: v for k, v in e.items() if k != "input"} for e in error.errors()]
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)


class LimitBody:
    """Refuses a request body over `limit` bytes with 413, by its Content-Length or, streamed,
    as soon as it grows past it: the app is told the client left, and nothing more is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._limit:
            await self._refuse(send)
            return
        seen, started, refused = 0, False, False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self._limit:
                refused = True
                if not started:
                    await self._refuse(send)
                return {"type": "http.disconnect"}
            return message

        async def noted(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self._app(scope, counted, noted)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"the request body is over {self._limit} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


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
