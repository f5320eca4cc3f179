"""Readiness: whether each system MCS depends on answers, and how fast (`/v1/readyz`, `mcs doctor`).

A probe only asks whether the other side answers: an HTTP answer of any status below 500 means
Dify or the ERP is there (their real calls need keys and bodies a probe should not send).
"""

import asyncio
import smtplib
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import httpx
from pydantic import BaseModel
from sqlalchemy import Engine, text
from temporalio.client import Client

from settings import Settings

PROBE_SECONDS = 3.0
State = Literal["up", "down", "off"]


class Unready(Exception):
    """A dependency answered, but not as a ready one does (its message is ours: safe to show)."""


class Check(BaseModel):
    """One dependency: up, down or off (not configured), how long it took to answer, and why
    it is down (the kind of error, never what the other side said)."""

    state: State
    latency_ms: float = 0.0
    detail: str = ""


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Check]


async def _timed(probe: Callable[[], Awaitable[None]]) -> Check:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), PROBE_SECONDS)
    except Exception as error:
        detail = "no answer" if isinstance(error, TimeoutError) else type(error).__name__
        detail = str(error) if isinstance(error, Unready) else detail
        return Check(state="down", latency_ms=_since(started), detail=detail)
    return Check(state="up", latency_ms=_since(started))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def _http(url: str) -> None:
    async with httpx.AsyncClient(timeout=PROBE_SECONDS) as http:
        answer = await http.get(url)
    if answer.status_code >= 500:
        raise Unready(f"HTTP {answer.status_code}")


def _smtp(settings: Settings) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=PROBE_SECONDS) as smtp:
        code, _ = smtp.noop()
    if code != 250:
        raise Unready(f"SMTP {code}")


def _database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def _temporal(client: Client | None) -> None:
    if client is None or not await client.service_client.check_health():
        raise Unready("not connected")


async def readiness(settings: Settings, engine: Engine, temporal: Client | None) -> Readiness:
    """Every dependency probed at once."""
    probes: dict[str, Callable[[], Awaitable[None]] | None] = {
        "database": lambda: asyncio.to_thread(_database, engine),
        "temporal": lambda: _temporal(temporal),
        "dify": (lambda: _http(settings.dify_base_url)) if settings.dify_base_url else None,
        "erp": (lambda: _http(settings.erp_base_url)) if settings.erp_base_url else None,
        "smtp": (lambda: asyncio.to_thread(_smtp, settings)) if settings.smtp_host else None,
    }
    names = [name for name, probe in probes.items() if probe]
    checks = await asyncio.gather(*(_timed(probe) for probe in probes.values() if probe))
    found = {name: Check(state="off") for name, probe in probes.items() if probe is None}
    found |= dict(zip(names, checks, strict=True))
    ready = all(check.state != "down" for check in found.values())
    found["sender_auth"] = _sender_auth(settings)
    return Readiness(status="ready" if ready else "not ready", checks=found)


def _sender_auth(settings: Settings) -> Check:
    """Whether senders are checked: `off` says so (set explicitly, or no trusted server)."""
    mode = settings.sender_auth_mode
    if mode == "off" or not settings.trusted_authserv_ids:
        why = "MCS_SENDER_AUTH=off" if mode == "off" else "no MCS_TRUSTED_AUTHSERV_IDS"
        return Check(state="off", detail=f"senders are not checked ({why})")
    return Check(state="up", detail=f"{mode} by {', '.join(settings.trusted_authserv_ids)}")


class CachedReadiness:
    """Readiness at most `seconds` old: an unauthenticated caller cannot make the API open a
    connection to every dependency per request (concurrent callers share one probe)."""

    def __init__(self, seconds: float = 5.0) -> None:
        self._seconds = seconds
        self._lock = asyncio.Lock()
        self._last: tuple[float, Readiness] | None = None

    async def get(self, settings: Settings, engine: Engine, temporal: Client | None) -> Readiness:
        async with self._lock:
            if self._last is None or time.monotonic() - self._last[0] > self._seconds:
                self._last = (time.monotonic(), await readiness(settings, engine, temporal))
            return self._last[1]
