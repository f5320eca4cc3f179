"""A Microsoft Graph simulator for mail: the client-credentials token endpoint, delta queries on a
mail folder (pages, delta links, expired links), a message's MIME (`$value`), `PATCH` (isRead),
`move`, mail folders by display name, and subscriptions whose change notifications it POSTs to
the subscriber with their `clientState`, after Graph's validation handshake. Throttling on
demand: the next N requests answer 429 (or 503) with Retry-After.

Tests and `mcs dev` drive it in-process: `GraphSim.add(user, raw)` delivers a message."""

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

INBOX = "inbox"


def graph_error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


@dataclass
class Message:
    id: str
    folder: str  # a folder id
    raw: bytes
    received: datetime
    is_read: bool = False


@dataclass
class Mailbox:
    """One user's mail: folders by id, messages by id, and a change log for delta queries."""

    folders: dict[str, str] = field(default_factory=lambda: {INBOX: "Inbox"})
    messages: dict[str, Message] = field(default_factory=dict)
    changes: list[tuple[int, str, str, bool]] = field(default_factory=list)  # seq, folder, id, gone


class GraphSim:
    """The simulator's state, shared by its routes and the test that drives it."""

    def __init__(self, client_id: str = "mcs-app", client_secret: str = "mcs-app-secret") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.mailboxes: dict[str, Mailbox] = {}
        self.tokens: set[str] = set()
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.notified: list[dict[str, Any]] = []  # what was POSTed, with the subscriber's status
        self.requests: list[str] = []  # "METHOD path" of every Graph request
        self.throttle_next, self.throttle_status, self.retry_after = 0, 429, 1.0
        self.page_size = 10  # when the client asks for none
        self.page_cap = 0  # at most this many per page whatever the client asks (0: no cap)
        self.oldest_delta = 0  # a delta token below this answers 410 syncStateNotFound
        self.link_base = ""  # a hostile server: page and delta links to this base instead
        self.expire_after = 0  # expire every delta link after this many more delta requests
        self._seq = itertools.count(1)
        self.url = ""  # where it is served, set by the caller

    def box(self, user: str) -> Mailbox:
        return self.mailboxes.setdefault(user.lower(), Mailbox())

    def add(self, user: str, raw: bytes, folder: str = INBOX) -> str:
        """Deliver a message; subscribers of the folder are notified (in the background)."""
        box, message_id = self.box(user), f"AAMk{secrets.token_hex(12)}"
        box.messages[message_id] = Message(message_id, folder, raw, datetime.now(UTC))
        box.changes.append((next(self._seq), folder, message_id, False))
        resource = f"users/{user}/mailFolders/{folder}/messages".lower()
        for subscription in list(self.subscriptions.values()):
            if subscription["resource"].lower() == resource:
                asyncio.get_running_loop().create_task(self._notify(subscription, message_id))
        return message_id

    def expire_delta_links(self) -> None:
        """Every delta link given so far answers 410 from now on."""
        self.oldest_delta = next(self._seq)

    def count_down(self) -> None:
        """One delta request more: at the end of `expire_after`, every link given expires."""
        if self.expire_after:
            self.expire_after -= 1
            if not self.expire_after:
                self.expire_delta_links()

    def throttle(self, requests: int, retry_after: float = 1.0, status: int = 429) -> None:
        self.throttle_next, self.retry_after, self.throttle_status = requests, retry_after, status

    def in_folder(self, user: str, folder: str) -> list[Message]:
        return [m for m in self.box(user).messages.values() if m.folder == folder]

    async def _notify(self, subscription: dict[str, Any], message_id: str) -> None:
        note = {"subscriptionId": subscription["id"], "clientState": subscription["clientState"],
                "changeType": "created", "resource": f"Messages/{message_id}",
                "resourceData": {"id": message_id}, "tenantId": "sim"}  # fmt: skip
        async with httpx.AsyncClient(timeout=10) as http:
            try:
                answer = await http.post(subscription["notificationUrl"], json={"value": [note]})
                self.notified.append({"status": answer.status_code, **note})
            except httpx.HTTPError as error:
                self.notified.append({"status": 0, "error": str(error), **note})

    def delta(self, user: str, folder: str, since: int, until: int) -> list[tuple[str, bool]]:
        """The messages of `folder` changed after `since` up to `until`: (id, removed), each
        once, in the order of its last change."""
        last: dict[str, tuple[int, bool]] = {}
        for seq, where, message_id, gone in self.box(user).changes:
            if since < seq <= until and where == folder:
                last[message_id] = (seq, gone)
        return [(i, gone) for i, (_seq, gone) in sorted(last.items(), key=lambda x: x[1][0])]

    def now(self) -> int:
        return next(self._seq)

    def change(self, user: str, message: Message, gone: bool = False, folder: str = "") -> None:
        self.box(user).changes.append((next(self._seq), folder or message.folder, message.id, gone))


def create_app(sim: GraphSim) -> FastAPI:
    """The simulator's routes; `sim` holds the state."""
    app = FastAPI(title="Microsoft Graph simulator")

    @app.middleware("http")
    async def authorise(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if "/oauth2/" in path or path.startswith("/_sandbox/"):
            return await call_next(request)  # type: ignore[no-any-return]
        sim.requests.append(f"{request.method} {path}")
        if sim.throttle_next:
            sim.throttle_next -= 1
            retry = str(sim.retry_after)
            return graph_error(
                sim.throttle_status, "TooManyRequests", "slow down", **{"Retry-After": retry}
            )
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in sim.tokens:
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired.")
        return await call_next(request)  # type: ignore[no-any-return]

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant_type, scope = form.get("grant_type"), form.get("scope")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if grant_type != "client_credentials" or scope != "https://graph.microsoft.com/.default":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (client_id, client_secret) != (sim.client_id, sim.client_secret):
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "AADSTS7000215: Invalid client secret"},
                                status_code=401)  # fmt: skip
        issued = secrets.token_urlsafe(24)
        sim.tokens.add(issued)
        return JSONResponse({"token_type": "Bearer", "expires_in": 3599, "access_token": issued})

    @app.post("/_sandbox/users/{user}/messages", status_code=201)
    async def deliver(user: str, request: Request) -> dict[str, str]:
        """Deliver a raw RFC 822 message (the body) to `user`'s inbox, as mail arriving."""
        return {"id": sim.add(user, await request.body())}

    _delta_route(app, sim)
    _message_routes(app, sim)
    _folder_routes(app, sim)
    _subscription_routes(app, sim)
    return app


def _page_size(request: Request, sim: GraphSim) -> int:
    size = sim.page_size
    for part in request.headers.get("prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "odata.maxpagesize" and value.isdigit():
            size = max(int(value), 1)
    return min(size, sim.page_cap) if sim.page_cap else size


def _delta_route(app: FastAPI, sim: GraphSim) -> None:
    base = "/v1.0/users/{user}"

    @app.get(base + "/mailFolders/{folder}/messages/delta")
    async def delta(user: str, folder: str, request: Request) -> Response:
        """Pages of `$skiptoken=since.until.offset`; the last gives `$deltatoken=until`."""
        found = _folder_id(sim, user, folder)
        if found is None:
            return graph_error(404, "ErrorItemNotFound", "The folder does not exist.")
        folder = found
        params = request.query_params
        if "$deltatoken" in params:
            since, until, offset = int(params["$deltatoken"]), sim.now(), 0
        elif "$skiptoken" in params:
            since, until, offset = (int(p) for p in params["$skiptoken"].split("."))
        else:
            since, until, offset = 0, sim.now(), 0
        if 0 < since < sim.oldest_delta:
            return graph_error(410, "syncStateNotFound", "The sync state is gone.")
        sim.count_down()
        changed = sim.delta(user, folder, since, until)
        size = _page_size(request, sim)
        page = changed[offset : offset + size]
        base = sim.link_base or sim.url
        here = f"{base}/v1.0/users/{quote(user)}/mailFolders/{folder}/messages/delta"
        value = []
        for message_id, gone in page:
            message = sim.box(user).messages.get(message_id)
            if gone or message is None or message.folder != folder:
                value.append({"id": message_id, "@removed": {"reason": "deleted"}})
            else:
                value.append(_shown(message))
        body: dict[str, Any] = {"value": value}
        if offset + size < len(changed):
            body["@odata.nextLink"] = f"{here}?$skiptoken={since}.{until}.{offset + size}"
        else:
            body["@odata.deltaLink"] = f"{here}?$deltatoken={until}"
        return JSONResponse(body)


def _message_routes(app: FastAPI, sim: GraphSim) -> None:
    base = "/v1.0/users/{user}"

    @app.get(base + "/messages/{message_id}/$value")
    async def mime(user: str, message_id: str) -> Response:
        message = sim.box(user).messages.get(message_id)
        if message is None:
            return graph_error(404, "ErrorItemNotFound", "The message does not exist.")
        return Response(message.raw, media_type="message/rfc822")

    @app.patch(base + "/messages/{message_id}")
    async def update(user: str, message_id: str, request: Request) -> Response:
        message = sim.box(user).messages.get(message_id)
        if message is None:
            return graph_error(404, "ErrorItemNotFound", "The message does not exist.")
        changes = await request.json()
        if "isRead" in changes and bool(changes["isRead"]) != message.is_read:
            message.is_read = bool(changes["isRead"])
            sim.change(user, message)
        return JSONResponse(_shown(message))

    @app.post(base + "/messages/{message_id}/move")
    async def move(user: str, message_id: str, request: Request) -> Response:
        message = sim.box(user).messages.get(message_id)
        target = _folder_id(sim, user, str((await request.json()).get("destinationId", "")))
        if message is None or target is None:
            return graph_error(404, "ErrorItemNotFound", "The message or folder does not exist.")
        if target != message.folder:
            sim.change(user, message, gone=True)
            message.folder = target
            sim.change(user, message)
        return JSONResponse(_shown(message), status_code=201)


def _folder_routes(app: FastAPI, sim: GraphSim) -> None:
    base = "/v1.0/users/{user}"

    @app.get(base + "/mailFolders")
    async def folders(user: str, request: Request) -> Response:
        wanted = request.query_params.get("$filter", "")
        name = wanted.removeprefix("displayName eq '").removesuffix("'").replace("''", "'")
        listed = [{"id": i, "displayName": n} for i, n in sim.box(user).folders.items()
                  if not wanted or n == name]  # fmt: skip
        return JSONResponse({"value": listed})

    @app.post(base + "/mailFolders")
    async def create_folder(user: str, request: Request) -> Response:
        name = str((await request.json()).get("displayName", ""))
        box = sim.box(user)
        if not name or name in box.folders.values():
            return graph_error(409, "ErrorFolderExists", f"A folder {name!r} exists already.")
        folder_id = f"AAMkF{secrets.token_hex(8)}"
        box.folders[folder_id] = name
        return JSONResponse({"id": folder_id, "displayName": name}, status_code=201)


def _folder_id(sim: GraphSim, user: str, folder: str) -> str | None:
    folders = sim.box(user).folders
    if folder in folders:
        return folder
    return INBOX if folder.lower() == INBOX else None


def _shown(message: Message) -> dict[str, Any]:
    received = message.received.isoformat().replace("+00:00", "Z")
    return {"id": message.id, "receivedDateTime": received, "isRead": message.is_read,
            "parentFolderId": message.folder}  # fmt: skip


def _subscription_routes(app: FastAPI, sim: GraphSim) -> None:
    @app.get("/v1.0/subscriptions")
    async def listed() -> Response:
        return JSONResponse({"value": list(sim.subscriptions.values())})

    @app.post("/v1.0/subscriptions")
    async def subscribe(request: Request) -> Response:
        """Created only once the subscriber echoes a validation token, as Graph does."""
        wanted = await request.json()
        missing = [k for k in ("changeType", "notificationUrl", "resource", "expirationDateTime")
                   if not wanted.get(k)]  # fmt: skip
        if missing:
            return graph_error(400, "InvalidRequest", f"missing {', '.join(missing)}")
        challenge = secrets.token_urlsafe(16)
        async with httpx.AsyncClient(timeout=10) as http:
            try:
                answer = await http.post(wanted["notificationUrl"],
                                         params={"validationToken": challenge})  # fmt: skip
            except httpx.HTTPError as error:
                return graph_error(400, "ValidationError", f"notification URL unreachable: {error}")
        plain = answer.headers.get("content-type", "").startswith("text/plain")
        if answer.status_code != 200 or answer.text != challenge or not plain:
            return graph_error(400, "ValidationError", "the notification URL did not validate")
        subscription = {
            **wanted,
            "id": secrets.token_hex(8),
            "clientState": wanted.get("clientState", ""),
        }
        sim.subscriptions[subscription["id"]] = subscription
        return JSONResponse(subscription, status_code=201)

    @app.patch("/v1.0/subscriptions/{subscription_id}")
    async def renew(subscription_id: str, request: Request) -> Response:
        subscription = sim.subscriptions.get(subscription_id)
        if subscription is None:
            return graph_error(404, "ResourceNotFound", "No such subscription.")
        subscription["expirationDateTime"] = (await request.json())["expirationDateTime"]
        return JSONResponse(subscription)


def expires_soon(hours: float) -> str:
    """An expiration time `hours` from now, as Graph writes it."""
    moment = datetime.fromtimestamp(time.time() + hours * 3600, UTC)
    return moment.isoformat().replace("+00:00", "Z")
