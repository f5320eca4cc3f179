"""Signed, expiring URLs of our API for stored files: Dify fetches contracts without our API key."""

import hashlib
import hmac
import time
from urllib.parse import urlencode


def _signature(file_id: str, expires: int, secret: str) -> str:
    message = f"{file_id}:{expires}".encode(errors="replace")  # any text a URL may carry
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_file_url(base_url: str, file_id: str, secret: str, ttl_seconds: float) -> str:
    """A URL of our API that serves the file until it expires, with no API key needed."""
    expires = int(time.time() + ttl_seconds)
    query = urlencode({"expires": expires, "signature": _signature(file_id, expires, secret)})
    return f"{base_url.rstrip('/')}/files/{file_id}?{query}"


def verify_file_signature(file_id: str, expires: int, signature: str, secret: str) -> bool:
    """True when the signature matches and the URL has not expired."""
    if expires < time.time():
        return False
    expected = _signature(file_id, expires, secret).encode()
    return hmac.compare_digest(expected, signature.encode(errors="replace"))
