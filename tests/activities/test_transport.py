"""The remote steps' HTTP transport (httpx over aiohttp), against a real server on loopback that
answers each request as the test tells it: what httpx gave the steps, it still gives, and every
failure on the wire is an httpx error."""

import asyncio
import gzip
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from activities._transport import AiohttpTransport
from tests.pki import make_pki

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A loopback HTTP/1.1 server: each request (head and body) goes to `answer`, which writes
    the bytes of its response, or none."""

    def __init__(self) -> None:
        self.answer: Answer = ok
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self.received = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                self.received.set()
                await self.answer(request, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def ok(request: bytes, writer: asyncio.StreamWriter) -> None:
    await respond(writer, 200, json.dumps({"ok": True}).encode())


async def respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, headers: tuple[str, ...] = ()
) -> None:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}", *headers]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield state


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5) as client:
        yield client


async def test_a_request_and_its_answer_cross_as_httpx_sends_and_reads_them(
    server: Server, http: httpx.AsyncClient
) -> None:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> None:
        body = gzip.compress(json.dumps({"orders": ["SO-1"]}).encode())
        cookies = ("Set-Cookie: a=1", "Set-Cookie: b=2", "Content-Encoding: gzip")
        await respond(writer, 201, body, cookies)

    server.answer = answer
    key = "HT-2026/001 合同+ü&x=y"
    url = f"http://127.0.0.1:{server.port}/v1/orders"
    response = await http.post(
        url, params={"idempotency_key": key}, json={"n": "合同"}, headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 201 and response.json() == {"orders": ["SO-1"]}
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.url == httpx.URL(url, params={"idempotency_key": key})
    [request] = server.requests
    head, body = request.split(b"\r\n\r\n", 1)
    line, *fields = head.decode().split("\r\n")
    assert line == f"POST {response.url.raw_path.decode()} HTTP/1.1"
    assert json.loads(body) == {"n": "合同"}
    named = {name.lower(): value.strip() for name, value in (f.split(":", 1) for f in fields)}
    assert named["idempotency-key"] == "k" and named["content-type"] == "application/json"
    assert named["host"] == f"127.0.0.1:{server.port}"


async def test_connections_are_kept_alive_and_redirects_left_to_httpx(
    server: Server, http: httpx.AsyncClient
) -> None:
    async def moved(request: bytes, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 302, b"", ("Location: /elsewhere",))

    for _ in range(5):
        assert (await http.get(f"http://127.0.0.1:{server.port}/")).status_code == 200
    server.answer = moved
    response = await http.get(f"http://127.0.0.1:{server.port}/")
    assert response.status_code == 302 and response.headers["location"] == "/elsewhere"
    assert server.connections == 1 and len(server.requests) == 6


async def test_a_connection_idle_longer_than_the_keepalive_is_not_used_again(
    server: Server,
) -> None:
    """A client of a server that drops idle connections after N seconds keeps them for less: the
    next request after a pause goes over a new connection."""
    async with httpx.AsyncClient(transport=AiohttpTransport(keepalive=0.2), timeout=5) as http:
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(2):
            assert (await http.get(url)).status_code == 200
        assert server.connections == 1
        await asyncio.sleep(0.6)
        assert (await http.get(url)).status_code == 200
        assert server.connections == 2 and len(server.requests) == 3


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("closes without an answer (the answer is lost)", httpx.RemoteProtocolError),
        ("closes halfway through the body", httpx.RemoteProtocolError),
        ("answers garbage", httpx.RemoteProtocolError),
        ("never answers", httpx.ReadTimeout),
    ],
)
async def test_a_failure_on_the_wire_is_an_httpx_transport_error(
    server: Server, http: httpx.AsyncClient, behaviour: str, error: type[httpx.TransportError]
) -> None:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> None:
        if behaviour.startswith("closes halfway"):
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok"')
            await writer.drain()
        elif behaviour.startswith("answers garbage"):
            writer.write(b"this is not HTTP\r\n\r\n")
            await writer.drain()
        elif behaviour.startswith("never"):
            await asyncio.sleep(10)
        writer.close()

    server.answer = answer
    with pytest.raises(error) as raised:
        await http.post(f"http://127.0.0.1:{server.port}/v1/orders", json={}, timeout=0.5)
    assert isinstance(raised.value, httpx.TransportError)
    assert raised.value.request.url.port == server.port
    server.answer = ok  # and the next call gets through
    assert (await http.get(f"http://127.0.0.1:{server.port}/")).status_code == 200


async def test_nobody_listening_is_a_connect_error(http: httpx.AsyncClient) -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    with pytest.raises(httpx.ConnectError):
        await http.get(f"http://127.0.0.1:{port}/")


async def test_a_cancelled_call_leaves_the_client_usable(
    server: Server, http: httpx.AsyncClient
) -> None:
    """A step cancelled mid-call (its heartbeat timed out, the run was cancelled) stops waiting."""

    async def slow(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    server.answer = slow
    call = asyncio.ensure_future(http.get(f"http://127.0.0.1:{server.port}/"))
    await asyncio.wait_for(server.received.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    server.answer = ok
    assert (await http.get(f"http://127.0.0.1:{server.port}/")).json() == {"ok": True}


async def test_a_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx did: HTTP_PROXY carries the call (the server here is the proxy: it gets the whole
    URL on the request line), and a host in NO_PROXY is called directly."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("NO_PROXY", "localhost")
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5) as client:
        through = await client.get("http://erp.example:8080/v1/orders?k=1")
        direct = await client.get(f"http://localhost:{server.port}/v1/orders")
    assert through.json() == {"ok": True} and direct.json() == {"ok": True}
    lines = [request.split(b"\r\n", 1)[0].decode() for request in server.requests]
    assert lines == [
        "GET http://erp.example:8080/v1/orders?k=1 HTTP/1.1",
        "GET /v1/orders HTTP/1.1",
    ]


@pytest.mark.parametrize("trusted", ["our CA", "certifi's CAs (the default)", "another CA"])
async def test_the_server_certificate_is_verified(tmp_path: Path, trusted: str) -> None:
    """A Dify or ERP over HTTPS: its certificate must chain to a CA the transport trusts (by
    default certifi's, as httpx's own pool), and name the host."""
    pki = make_pki(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(pki.cert, pki.key)
    state = Server()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=served)
    url = f"https://localhost:{listener.sockets[0].getsockname()[1]}/"
    verify = {"our CA": pki.ca, "another CA": pki.stranger}.get(trusted)
    context = ssl.create_default_context(cafile=verify) if verify else None
    async with listener, httpx.AsyncClient(transport=AiohttpTransport(context)) as client:
        if trusted == "our CA":
            assert (await client.get(url)).json() == {"ok": True}
        else:
            with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
                await client.get(url)
