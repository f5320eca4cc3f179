"""FastAPI dependencies: settings, session, Temporal client, blob store, outbox, API key.

The cheap ones are `async def`: FastAPI runs a plain `def` dependency in its thread pool, which
costs every request a thread hand-off per dependency (slow on a busy machine).
"""

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.outbox import Outbox
from settings import ApiKey, Settings, parse_keys
from storage.blobs import Blobs


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


async def get_blobs(request: Request) -> Blobs:
    store: Blobs = request.app.state.blobs
    return store


async def get_outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


@lru_cache(maxsize=32)
def _digests(entries: tuple[str, ...]) -> tuple[tuple[bytes, ApiKey], ...]:
    """Each key of MCS_API_KEYS with its sha256, made once per list of entries, not per request."""
    return tuple((hashlib.sha256(k.key.encode()).digest(), k) for k in parse_keys(entries))


def find_key(settings: Settings, presented: str) -> ApiKey | None:
    """The key of MCS_API_KEYS that `presented` is, compared in constant time: every key is
    compared (as digests of one length), whichever matches; a bare key only counts in dev."""
    digest = hashlib.sha256(presented.encode()).digest()
    found = None
    for known, key in _digests(tuple(settings.api_keys)):
        same = hmac.compare_digest(digest, known)
        if same and found is None and not (key.bare and settings.production):
            found = key
    return found


def presented_key(x_api_key: str | None, authorization: str | None) -> str:
    """The key of a request: X-API-Key, or `Authorization: Bearer <key>`."""
    if x_api_key:
        return x_api_key
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


NO_KEY = "missing or invalid API key (send X-API-Key or Authorization: Bearer)"


def allow(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller's key, which must have `scope` (401 without a valid key, 403
    naming the scope when the key lacks it)."""

    async def caller(
        settings: SettingsDep,
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> ApiKey:
        key = find_key(settings, presented_key(x_api_key, authorization))
        if key is None:
            raise HTTPException(401, NO_KEY)
        if not key.allows(scope):
            raise HTTPException(403, f"the key {key.name!r} lacks the scope {scope}")
        return key

    return caller


SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
BlobsDep = Annotated[Blobs, Depends(get_blobs)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
Submitter = Annotated[ApiKey, Depends(allow("emails:submit"))]  # whoever submits an email
