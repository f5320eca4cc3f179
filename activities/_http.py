"""How HTTP answers become activity outcomes: 4xx permanent, 5xx/429/network transient."""

from datetime import timedelta

import httpx
from temporalio.exceptions import ApplicationError

from models.errors import ErrorType, transient

RETRYABLE_CLIENT_STATUSES = {408, 425, 429}


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
