"""FastAPI dependencies: settings, session, Temporal client, blob store, outbox, API key.

The cheap ones are `async def`: FastAPI runs a plain `def` dependency in its thread pool, which
costs every request a thread hand-off per dependency (slow on a busy machine).
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.outbox import Outbox
from settings import Settings
from storage.blobs import BlobStore


async def app_settings(request: Request) -> Settings:
    """The settings the app was created with (no per-request override machinery)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]


def get_session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with Session(engine) as session:
        yield session


async def get_temporal(request: Request) -> Client:
    client: Client | None = request.app.state.temporal
    if client is None:
        raise HTTPException(503, "Temporal is not connected")
    return client


async def get_blobs(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blobs
    return store


async def get_outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


async def require_api_key(
    settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    """401 unless X-API-Key is one of MCS_API_KEYS."""
    if not x_api_key or x_api_key not in settings.api_keys:
        raise HTTPException(401, "missing or invalid X-API-Key")


SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
