"""How HTTP answers become activity outcomes: 4xx permanent, 5xx/429/network transient."""

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.errors import ErrorType, transient

RETRYABLE_CLIENT_STATUSES = {408, 425, 429}
HEARTBEAT_SECONDS = 2.0  # well inside the remote steps' heartbeat timeout
T = TypeVar("T")


async def heartbeating(call: Awaitable[T]) -> T:
    """Await a slow call while telling Temporal this worker is alive: a worker that dies while it
    waits for Dify or the ERP misses its heartbeats, and the step is retried within seconds
    instead of after its whole start-to-close timeout."""
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_SECONDS)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()  # the activity was cancelled (or timed out): stop the call too


def error_detail(response: httpx.Response) -> dict[str, object]:
    """The JSON error body of an answer, or its first bytes of text."""
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:500]}
    return body if isinstance(body, dict) else {"message": str(body)[:500]}


def raise_for_status(response: httpx.Response, error_type: ErrorType) -> None:
    """Raise a non-retryable ApplicationError for a 4xx; let 5xx/429 raise retryably."""
    if response.is_success:
        return
    detail = error_detail(response)
    message = f"HTTP {response.status_code}: {detail.get('code', '')} {detail.get('message', '')}"
    if response.is_client_error and response.status_code not in RETRYABLE_CLIENT_STATUSES:
        raise ApplicationError(message.strip(), detail, type=error_type, non_retryable=True)
    retry_after = response.headers.get("retry-after", "")
    delay = timedelta(seconds=float(retry_after)) if retry_after.isdigit() else None
    raise ApplicationError(
        message.strip(), detail, type=transient(error_type), next_retry_delay=delay
    )
