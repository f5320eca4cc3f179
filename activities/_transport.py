"""HTTP/1.1 for the remote steps over aiohttp's connection pool, behind httpx's client API.

The steps, their tests (`httpx.MockTransport`) and their error handling keep httpx's API; only the
wire goes through aiohttp. Under the worker's concurrency httpx's own pool (httpcore over anyio)
cost 1.2-1.9 ms of CPU per request and took the GIL from the workflows meanwhile; this transport
0.4 ms, aiohttp alone 0.1 ms (one POST of a small JSON order to a local server, 16 at a time).

What httpx does it still does: headers, cookies, redirects (off here), decoding the body by its
`Content-Encoding`, and its exceptions: every failure on the wire is an `httpx.TransportError`.
"""

import contextlib
import ssl
import urllib.request
from collections.abc import Iterator

import aiohttp
import httpx
from yarl import URL

# the most specific first: aiohttp's timeouts and disconnections are also connection errors
ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.PoolTimeout),  # no connection free in time
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a malformed answer
    (aiohttp.ClientError, httpx.NetworkError),
)


FAILURES = tuple(error for error, _ in ERRORS)


@contextlib.contextmanager
def as_httpx(request: httpx.Request) -> Iterator[None]:
    """aiohttp's failures as the httpx exceptions a caller of httpx catches."""
    try:
        yield
    except FAILURES as error:
        mapped = next(kind for seen, kind in ERRORS if isinstance(error, seen))
        raise mapped(f"{type(error).__name__}: {error}", request=request) from error


# The keep-alive of a client of our own uvicorn apps (the API, the simulators): uvicorn drops an
# idle connection after 5 s, and at the same 5 s a request sent as it closed failed (ReadError)
UVICORN_CLIENT_KEEPALIVE = 2.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session, opened on first use (in the running loop), keeping its connections
    alive for `keepalive` seconds idle (below the server's own keep-alive timeout, a request is
    never sent on a connection the server is closing); `verify`: the TLS context (when None,
    httpx's default: `SSL_CERT_FILE`, else certifi's CAs)."""

    def __init__(self, verify: ssl.SSLContext | None = None, keepalive: float = 15.0) -> None:
        self._ssl = verify or httpx.create_ssl_context()
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        # HTTP(S)_PROXY and NO_PROXY, read once as httpx reads them. Not aiohttp's `trust_env`: it
        # reads the environment, and ~/.netrc in a thread, at every request
        self._proxies = urllib.request.getproxies_environment()
        self._proxy_of: dict[tuple[str, str], str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0, ssl=self._ssl, keepalive_timeout=self._keepalive)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            auto_decompress=False,  # httpx decodes by Content-Encoding
        )
        return self._session

    def _proxy(self, url: httpx.URL) -> str | None:
        """The proxy for `url`'s scheme and host from the environment, if any (one lookup each)."""
        key = (url.scheme, url.host)
        if key not in self._proxy_of:
            proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
            bypassed = urllib.request.proxy_bypass(url.host)  # NO_PROXY
            self._proxy_of[key] = None if bypassed else proxy
        return self._proxy_of[key]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        limits = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=limits.get("pool"),
            sock_connect=limits.get("connect"),
            sock_read=limits.get("read"),
        )
        body = await request.aread()
        with as_httpx(request):
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),  # httpx encoded it already
                headers=request.headers.multi_items(),
                data=body or None,
                timeout=timeout,
                proxy=self._proxy(request.url) if self._proxies else None,
                allow_redirects=False,  # httpx follows redirects when asked to
            ) as answer:
                content = await answer.read()
        return httpx.Response(
            answer.status,
            headers=list(answer.raw_headers),
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (answer.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
