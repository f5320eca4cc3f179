"""The inbox session is bound to its key: removing or rotating the key, or taking its scope
away, ends the session at the next request; a forged or altered cookie opens nothing."""

from fastapi.responses import Response
from starlette.requests import Request

from api.review_pages import session
from settings import Settings

SECRET = "a-file-url-secret-0123456789"
KEY = "anna-key-0123456789abcdef"


def logged_in(settings: Settings) -> str:
    """The session cookie a login with Anna's key sets."""
    response = Response()
    [key] = [k for k in settings.keys if k.name == "anna"]
    session.start_session(response, key, settings)
    header = response.headers["set-cookie"]
    return header.split(";")[0].split("=", 1)[1]


def who(settings: Settings, cookie: str) -> str | None:
    scope = {"type": "http", "headers": [(b"cookie", f"{session.COOKIE}={cookie}".encode())]}
    return session.reviewer(Request(scope), settings)


def keys(*entries: str) -> Settings:
    return Settings(env="production", file_url_secret=SECRET, api_keys=list(entries))


def test_the_session_lives_only_as_long_as_its_key() -> None:
    before = keys(f"anna:{KEY}:runs:review")
    cookie = logged_in(before)
    assert who(before, cookie) == "anna"
    assert who(keys("bob:bob-key-0123456789abcdef:runs:review"), cookie) is None  # removed
    assert who(keys("anna:a-new-key-0123456789abcd:runs:review"), cookie) is None  # rotated
    assert who(keys(f"anna:{KEY}:runs:read"), cookie) is None  # scope taken away
    assert who(keys(f"anna:{KEY}:runs:review+runs:read"), cookie) == "anna"  # still the same key


def test_an_altered_cookie_opens_nothing() -> None:
    settings = keys(f"anna:{KEY}:runs:review", "bob:bob-key-0123456789abcdef:runs:review")
    name, expires, fingerprint, signature = logged_in(settings).rsplit("|", 3)
    for forged in (
        f"bob|{expires}|{fingerprint}|{signature}",
        f"anna|{int(expires) + 3600}|{fingerprint}|{signature}",
        f"anna|{expires}|{'0' * 32}|{signature}",
        f"anna|{expires}|{fingerprint}",
        "",
    ):
        assert who(settings, forged) is None, forged
