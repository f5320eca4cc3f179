"""Microsoft 365 mailboxes through Microsoft Graph (an app registration, client credentials).

New messages come from a delta query whose delta link is kept per mailbox, so a restart reads on
where the last complete poll stopped; an expired link starts a fresh delta, and what was recorded
already is not taken again. Throttling (429, 503) waits out Retry-After; an expired token is
renewed on a 401."""

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from mail.ingest import Ingester
from mail.sources import FINISHED, Item, number_of
from mail.tls import tls_context
from settings import MailboxConfig, Settings

SCOPE = "https://graph.microsoft.com/.default"
TOKEN_MARGIN = 120  # seconds before `expires_in` a token is renewed
TRIES = 6
LONGEST_WAIT = 30.0  # seconds one Retry-After is honoured at most (the poll heartbeats per minute)
PAGE_SIZE = 100
JSON_BYTES = 32 * 1024 * 1024
PREFER = f'IdType="ImmutableId", odata.maxpagesize={PAGE_SIZE}'  # ids that survive a move
WELL_KNOWN = {"inbox", "archive", "drafts", "sentitems", "deleteditems", "junkemail"}
EXPIRED_DELTA = {"syncStateNotFound", "syncStateInvalid", "resyncRequired"}
SUBSCRIPTION_DAYS = 2  # a mail subscription lives at most ~7 days; renewed a day before
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}  # (token_url, client_id) -> token, until
_TOKENS_LOCK = threading.Lock()


class GraphError(RuntimeError):
    """Graph answered with an error the poll cannot go past (it is retried by the schedule)."""


def client_state(settings: Settings, mailbox: str) -> str:
    """The secret a change notification of `mailbox` carries (derived, never configured)."""
    key = settings.file_url_secret.encode()
    return hmac.new(key, f"graph-notify:{mailbox}".encode(), hashlib.sha256).hexdigest()[:40]


class GraphClient:
    """Graph over HTTP for one mailbox: authorised, throttling waited out."""

    def __init__(self, config: MailboxConfig, settings: Settings) -> None:
        self._config = config
        verify = tls_context(settings.ca_file) if config.graph_url.startswith("https") else True
        self._http = httpx.Client(timeout=config.timeout_seconds, verify=verify)
        self.user = f"{config.graph_url.rstrip('/')}/users/{quote(config.user, safe='@')}"
        self.limit = max(settings.max_message_bytes, JSON_BYTES)  # an answer read at most

    def close(self) -> None:
        self._http.close()

    def _token(self, fresh: bool = False) -> str:
        """A client-credentials token, cached until shortly before it expires."""
        config = self._config
        key = (config.token_url, config.client_id)
        with _TOKENS_LOCK:
            cached = _TOKENS.get(key)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
        form = {"grant_type": "client_credentials", "client_id": config.client_id,
                "client_secret": config.client_secret, "scope": SCOPE}  # fmt: skip
        answer = self._http.post(config.token_url, data=form)
        if answer.status_code != 200:
            raise GraphError(f"mailbox {config.name}: no token ({answer.status_code}): "
                             f"{_error(answer)}")  # fmt: skip
        body = answer.json()
        until = time.monotonic() + max(float(body.get("expires_in", 3600)) - TOKEN_MARGIN, 30)
        with _TOKENS_LOCK:
            _TOKENS[key] = (str(body["access_token"]), until)
        return str(body["access_token"])

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One Graph request: a 401 renews the token once, 429 and 503 wait out Retry-After."""
        renewed = False
        answer: httpx.Response | None = None
        for _attempt in range(TRIES):
            headers = {"Authorization": f"Bearer {self._token()}", "Prefer": PREFER}
            answer = self._send(self._http.build_request(method, url, headers=headers, **kwargs))
            if answer.status_code == 401 and not renewed:
                self._token(fresh=True)
                renewed = True
                continue
            if answer.status_code in (429, 503):
                time.sleep(_retry_after(answer))
                continue
            return answer
        assert answer is not None
        return answer

    def _send(self, request: httpx.Request) -> httpx.Response:
        """The answer, its body read up to `self.limit` + 1 bytes (a longer one is cut there:
        the caller sees it is over the limit without holding all of it)."""
        answer = self._http.send(request, stream=True)
        body = bytearray()
        try:
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > self.limit:
                    break
        finally:
            answer.close()
        return httpx.Response(
            answer.status_code, headers=answer.headers, content=bytes(body), request=request
        )


class GraphSource:
    """A mail folder of a Microsoft 365 mailbox as a mailbox source."""

    provider = "graph"
    validity = 0
    last = 0

    def __init__(
        self, client: GraphClient, config: MailboxConfig, settings: Settings, ingester: Ingester
    ) -> None:
        self._graph, self._config, self._settings = client, config, settings
        self._ingester = ingester
        self._folders: dict[str, str] = {}
        self._received: dict[str, datetime | None] = {}
        self._delta = ""

    @classmethod
    @contextmanager
    def open(
        cls, config: MailboxConfig, settings: Settings, ingester: Ingester
    ) -> Iterator["GraphSource"]:
        client = GraphClient(config, settings)
        try:
            yield cls(client, config, settings, ingester)
        finally:
            client.close()

    def pending(self, limit: int) -> list[Item]:
        """The messages of the delta since the kept link that this mailbox has not finished."""
        keys = self._delta_keys()
        known = self._ingester.handled_items(self._config, keys)
        new = [Item(key, number_of(key)) for key in keys if known.get(key) not in FINISHED]
        return new[:limit]

    def _delta_keys(self) -> list[str]:
        """Follow the delta's pages to its delta link; an expired link starts afresh."""
        start = f"{self._graph.user}/mailFolders/{quote(self._folder(self._config.folder))}"
        start += "/messages/delta?$select=id,receivedDateTime"
        cursor = self._ingester.cursor(self._config)
        url = cursor if _same_origin(cursor, self._config.graph_url) else start
        keys: list[str] = []
        while True:
            answer = self._graph.call("GET", url)
            if url != start and _expired(answer):
                url, keys = start, []
                self._received.clear()
                continue
            body = _json(answer, "the delta query")
            for message in body.get("value", []):
                key = str(message.get("id", ""))
                if key and "@removed" not in message and key not in self._received:
                    keys.append(key)
                    self._received[key] = _moment(message.get("receivedDateTime"))
            url = str(body.get("@odata.nextLink", ""))
            if url:
                self._origin(url)
                continue
            self._delta = self._origin(str(body.get("@odata.deltaLink", "")))
            return keys

    def _origin(self, link: str) -> str:
        """A link Graph gave, refused unless it points where `graph_url` does: the token is
        never sent to another host, whatever a server answers."""
        if link and not _same_origin(link, self._config.graph_url):
            raise GraphError(f"Graph gave a link to another host: {urlsplit(link).netloc!r}")
        return link

    def fetch(self, item: Item) -> tuple[bytes, datetime | None]:
        """The MIME of the message, read up to one byte over the message limit."""
        url = f"{self._graph.user}/messages/{quote(item.key)}/$value"
        answer = self._graph.call("GET", url)
        if answer.status_code == 404:
            raise LookupError(f"message {item.key} is gone")
        _checked(answer, "the message")
        return answer.content, self._received.get(item.key)

    def mark(self, item: Item) -> None:
        kind, _, folder = self._config.after.partition(":")
        if kind == "move":
            self._move(item, folder)
        else:
            url = f"{self._graph.user}/messages/{quote(item.key)}"
            _checked(self._graph.call("PATCH", url, json={"isRead": True}), "marking read")

    def quarantine(self, item: Item, folder: str) -> None:
        if folder:
            self._move(item, folder)
        else:
            self.mark(item)

    def _move(self, item: Item, folder: str) -> None:
        url = f"{self._graph.user}/messages/{quote(item.key)}/move"
        moved = self._graph.call("POST", url, json={"destinationId": self._folder(folder)})
        _checked(moved, f"moving to {folder}")

    def _folder(self, name: str) -> str:
        """A folder's id by its display name (found once, created when missing); a well-known
        name as it is."""
        if name.lower() in WELL_KNOWN:
            return name.lower()
        if name not in self._folders:
            escaped = name.replace("'", "''")
            url = f"{self._graph.user}/mailFolders?$filter=displayName eq '{escaped}'"
            found = _json(self._graph.call("GET", url), f"finding folder {name}").get("value", [])
            if not found:
                made = self._graph.call(
                    "POST", f"{self._graph.user}/mailFolders", json={"displayName": name}
                )
                found = [_json(made, f"creating folder {name}")]
            self._folders[name] = str(found[0]["id"])
        return self._folders[name]

    def handled(self, item: Item) -> None:
        """Nothing to move: the message's id is recorded with it."""

    def finish(self, complete: bool) -> None:
        """Keep the delta link once every message of the delta was handled; keep the change
        notification subscription alive when asked for."""
        if complete and self._delta:
            self._ingester.keep_cursor(self._config, self._delta)
        if self._config.notify:
            self.subscribe()

    def subscribe(self) -> None:
        """A `created` subscription on the folder whose notifications trigger this mailbox's
        poll: made when missing, renewed a day before it expires."""
        config, base = self._config, self._config.graph_url.rstrip("/")
        hook = f"{self._settings.api_url.rstrip('/')}/v1/webhooks/graph/{config.name}"
        listed = _json(self._graph.call("GET", f"{base}/subscriptions"), "listing subscriptions")
        expires = datetime.now(UTC) + timedelta(days=SUBSCRIPTION_DAYS)
        when = expires.isoformat().replace("+00:00", "Z")
        for subscription in listed.get("value", []):
            if subscription.get("notificationUrl") == hook:
                left = _moment(subscription.get("expirationDateTime"))
                if left is None or left < datetime.now(UTC) + timedelta(days=1):
                    url = f"{base}/subscriptions/{subscription['id']}"
                    renewed = self._graph.call("PATCH", url, json={"expirationDateTime": when})
                    _checked(renewed, "renewing the subscription")
                return
        folder = quote(self._folder(config.folder))
        wanted = {"changeType": "created", "notificationUrl": hook, "expirationDateTime": when,
                  "resource": f"users/{config.user}/mailFolders/{folder}/messages",
                  "clientState": client_state(self._settings, config.name)}  # fmt: skip
        made = self._graph.call("POST", f"{base}/subscriptions", json=wanted)
        _checked(made, "subscribing to new mail")


def _same_origin(link: str, base: str) -> bool:
    """Whether `link` has the scheme, host and port of `base`."""
    one, two = urlsplit(link), urlsplit(base)
    return bool(link) and (one.scheme, one.netloc) == (two.scheme, two.netloc)


def _retry_after(answer: httpx.Response) -> float:
    try:
        return min(max(float(answer.headers.get("Retry-After", "1")), 0.0), LONGEST_WAIT)
    except ValueError:
        return 1.0


def _expired(answer: httpx.Response) -> bool:
    """An expired delta link: 410 Gone, or a sync-state error code."""
    if answer.status_code == 410:
        return True
    return answer.status_code >= 400 and _code(answer) in EXPIRED_DELTA


def _code(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error", {}).get("code", ""))
    except ValueError:
        return ""


def _error(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error", {})
        if isinstance(error, dict):
            return f"{error.get('code', '')}: {error.get('message', '')}"[:300]
        return str(answer.json().get("error_description", error))[:300]
    except ValueError:
        return answer.text[:300]


def _checked(answer: httpx.Response, doing: str) -> httpx.Response:
    """The answer, or GraphError naming what failed."""
    if answer.status_code >= 400:
        raise GraphError(f"Graph {doing}: {answer.status_code} {_error(answer)}")
    return answer


def _json(answer: httpx.Response, doing: str) -> dict[str, Any]:
    """The answer's JSON body, or GraphError naming what failed."""
    if not _checked(answer, doing).content:
        return {}
    body = answer.json()
    return body if isinstance(body, dict) else {}


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
