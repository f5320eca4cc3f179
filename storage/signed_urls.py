"""Signed, expiring URLs of our API: stored files (Dify fetches contracts without our API key)
and personal review links (a reviewer decides from a mail without a key)."""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from models.email import READABLE

if TYPE_CHECKING:
    from settings import Settings


def _signature(file_id: str, expires: int, secret: str) -> str:
    message = f"{file_id}:{expires}".encode(errors="replace")  # any text a URL may carry
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_file_url(base_url: str, file_id: str, secret: str, ttl_seconds: float) -> str:
    """A URL of our API that serves the file until it expires, with no API key needed."""
    expires = int(time.time() + ttl_seconds)
    query = urlencode({"expires": expires, "signature": _signature(file_id, expires, secret)})
    return f"{base_url.rstrip('/')}/files/{file_id}?{query}"


def contract_url(settings: "Settings", sha256: str, content_type: str) -> tuple[str, str]:
    """The file id of a stored contract (its extension by its type) and its signed URL, for
    Dify (the upload step) and for a reviewer (the review page)."""
    file_id = f"{sha256}.{READABLE.get(content_type, ('', 'pdf'))[1]}"
    ttl = settings.file_url_ttl.total_seconds()
    return file_id, sign_file_url(settings.api_url, file_id, settings.file_url_secret, ttl)


def verify_file_signature(file_id: str, expires: int, signature: str, secret: str) -> bool:
    """True when the signature matches and the URL has not expired."""
    if expires < time.time():
        return False
    expected = _signature(file_id, expires, secret).encode()
    return hmac.compare_digest(expected, signature.encode(errors="replace"))


class BadToken(ValueError):
    """A review token that is not ours (tampered, truncated, or signed with another secret)."""


@dataclass(frozen=True)
class ReviewToken:
    """A personal review link's claims: the run, who may decide, until when (the deadline of the
    review it was made for: a link of an earlier review of the same run does not decide a later
    one)."""

    workflow_id: str
    reviewer: str
    expires: int

    @property
    def expired(self) -> bool:
        return self.expires < time.time()


def _review_signature(body: str, secret: str) -> str:
    return hmac.new(f"review:{secret}".encode(), body.encode(), hashlib.sha256).hexdigest()


def sign_review_token(workflow_id: str, reviewer: str, expires: int, secret: str) -> str:
    """`{claims, base64url}.{hmac}`: the credential of a review page, no cookie or key needed."""
    claims = json.dumps([workflow_id, reviewer, expires], separators=(",", ":"))
    body = base64.urlsafe_b64encode(claims.encode()).decode().rstrip("=")
    return f"{body}.{_review_signature(body, secret)}"


def review_url(base_url: str, workflow_id: str, reviewer: str, expires: int, secret: str) -> str:
    token = sign_review_token(workflow_id, reviewer, expires, secret)
    return f"{base_url.rstrip('/')}/review/{token}"


def verify_review_token(token: str, secret: str) -> ReviewToken:
    """The claims of a token we signed (expired or not: the page says which); BadToken else."""
    body, _, signature = token.partition(".")
    expected = _review_signature(body, secret)
    if not hmac.compare_digest(expected.encode(), signature.encode(errors="replace")):
        raise BadToken("the link is not valid (changed or incomplete)")
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        workflow_id, reviewer, expires = claims
        return ReviewToken(str(workflow_id), str(reviewer), int(expires))
    except (ValueError, TypeError) as error:
        raise BadToken("the link is not valid") from error
