"""The FastAPI app factory and its lifespan (engine, Temporal client, blob store)."""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import Histogram, make_asgi_app
from temporalio.client import Client

from activities.files import BlobStore
from api.routes import emails, files, health, orchestrations
from models.db import create_schema, make_engine
from settings import Settings, get_settings
from worker import connect

REQUEST_SECONDS = Histogram(
    "mcs_api_request_seconds", "API request duration", ["method", "route", "status"]
)


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """The API app; `temporal` may be given (tests), otherwise it is connected at start-up."""
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(config.db_url)
        create_schema(engine)
        app.state.engine = engine
        app.state.blobs = BlobStore(config.blob_dir)
        app.state.temporal = temporal or await connect(config)
        yield
        engine.dispose()

    app = FastAPI(title="MCS sales-email platform", version="0.1.0", lifespan=lifespan)
    app.dependency_overrides[get_settings] = lambda: config
    for module in (orchestrations, emails, files, health):
        app.include_router(module.router)
    app.mount("/metrics", make_asgi_app())

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUEST_SECONDS.labels(request.method, path, response.status_code).observe(
            time.perf_counter() - started
        )
        return response

    return app
