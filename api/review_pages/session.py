"""The security of the review pages, in one module to audit on its own.

- A review link's token is its own credential (HMAC-signed by `storage.signed_urls`: run,
  reviewer, expiry), so a form posted from another site has nothing to ride on.
- The inbox keeps who logged in (the key's name and a fingerprint of the key, never the key) in
  a signed, HttpOnly, SameSite=Strict cookie that expires. Each request checks that the key is
  still configured, unchanged, and still has `runs:review`: a removed or rotated key, or a lost
  scope, ends the session at once.
- The inbox's login and logout forms carry a form token that must match a cookie of the same
  flags (double submit): another site can neither log a reviewer in under its own key (a login
  CSRF: the reviewer would then decide under the attacker's name) nor out.
"""

import hashlib
import hmac
import re
import secrets
import time

from fastapi import Request
from fastapi.responses import Response

from settings import ApiKey, Settings

COOKIE = "mcs_inbox"
FORM_COOKIE = "mcs_form"
FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
SESSION_SECONDS = 12 * 3600


def _fingerprint(key: ApiKey) -> str:
    return hashlib.sha256(f"inbox-key:{key.key}".encode()).hexdigest()[:32]


def _signed(name: str, expires: int, fingerprint: str, secret: str) -> str:
    body = f"{name}|{expires}|{fingerprint}"
    signature = hmac.new(f"inbox:{secret}".encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}|{signature}"


def reviewer(request: Request, settings: Settings) -> str | None:
    """The name of the inbox's logged-in reviewer, from the session cookie (None: nobody, or a
    key no longer configured as it was, or without `runs:review`)."""
    given = request.cookies.get(COOKIE, "")
    parts = given.rsplit("|", 3)
    if len(parts) != 4 or not parts[1].isdigit() or int(parts[1]) < time.time():
        return None
    name, expires, fingerprint, _ = parts
    expected = _signed(name, int(expires), fingerprint, settings.file_url_secret)
    if not hmac.compare_digest(expected.encode(), given.encode(errors="replace")):
        return None
    for key in settings.keys:
        same = hmac.compare_digest(_fingerprint(key), fingerprint)
        counts = not (key.bare and settings.production)
        if key.name == name and same and counts and key.allows("runs:review"):
            return name
    return None


def start_session(response: Response, key: ApiKey, settings: Settings) -> None:
    """Log `key`'s holder in on this browser."""
    expires = int(time.time()) + SESSION_SECONDS
    cookie = _signed(key.name, expires, _fingerprint(key), settings.file_url_secret)
    _cookie(response, COOKIE, cookie, settings)


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE)


def form_token(request: Request) -> str:
    """The browser's form token (its cookie), or a new one."""
    given = request.cookies.get(FORM_COOKIE, "")
    return given if FORM_TOKEN.fullmatch(given) else secrets.token_urlsafe(32)


def with_form_token(response: Response, token: str, settings: Settings) -> Response:
    """The page with the form token's cookie set (its forms carry the same token)."""
    _cookie(response, FORM_COOKIE, token, settings)
    return response


def genuine(request: Request, form: dict[str, str]) -> bool:
    """The form carries the token of this browser's form cookie (it came from our own page)."""
    cookie, given = request.cookies.get(FORM_COOKIE, ""), form.get("form_token", "")
    return bool(FORM_TOKEN.fullmatch(cookie)) and hmac.compare_digest(
        cookie.encode(), given.encode(errors="replace")
    )


def _cookie(response: Response, name: str, value: str, settings: Settings) -> None:
    response.set_cookie(
        name, value, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
        secure=settings.api_url.startswith("https://"),
    )  # fmt: skip
