"""The FastAPI app factory and its lifespan (engine, Temporal client, blob store, outbox)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app
from temporalio.client import Client

from api import review_pages
from api.gate import Gate
from api.middleware import MeasureRequests, RequestId
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
    graph_webhook,
    health,
    masterdata,
    orchestrations,
    product_refs,
    products,
    webhooks,
)
from api.runs import count_reviews
from mail.send import Mailer
from models.db import make_engine
from models.errors import Problem
from models.migrate import ensure_migrated
from settings import Settings, get_settings
from telemetry.probes import CachedReadiness
from telemetry.redact import RedactingFilter
from temporal_client import connect


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """The API app; `temporal` may be given (tests), otherwise it is connected at start-up."""
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(config.db_url, config.database_pool_size)
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
    app.state.readiness = CachedReadiness(seconds=5.0)  # /v1/readyz probes at most every 5 s
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Problem, problem_answer)
    app.mount("/metrics", make_asgi_app())
    app.add_middleware(Gate, settings=config)
    app.add_middleware(MeasureRequests)
    app.add_middleware(RequestId)
    return app


ROUTERS = [orchestrations.stats_router] + [
    m.router
    for m in (
        orchestrations, emails, webhooks, graph_webhook, masterdata, customers, contacts, companies,
        products,
        product_refs,
        audit, files, codec, health, review_pages,
    )
]  # fmt: skip


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 (each error's type, location, message and limits) without the `input` it
    echoes: the caller sent it, and a 25,000-address list came back whole, 760 KB of it."""
    assert isinstance(error, RequestValidationError)
    detail = [{k: v for k, v in e.items() if k != "input"} for e in error.errors()]
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)
