"""Attachments given by URL, fetched without opening a door into our network.

Only hosts in MCS_ATTACHMENT_URL_HOSTS are asked (none: URL attachments are refused), over https
in production; the host's addresses must be public (loopback too in dev, where the simulators
run), checked before connecting and again on the connection made (a DNS answer that changes in
between is caught); no redirect is followed; one deadline covers the whole download; the size is
capped; and an error names what went wrong without echoing what the other side answered.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from models.errors import Invalid, TooLarge
from settings import Settings

DEADLINE_SECONDS = 30.0
Resolver = Callable[[str, int], Awaitable[list[str]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def allowed_address(address: str, dev: bool) -> bool:
    """A public address; in dev, loopback as well."""
    ip: Address = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global or (dev and ip.is_loopback)


def allowed_host(host: str, hosts: list[str]) -> bool:
    """`host` is listed, exactly or under a listed `.domain`."""
    host = host.lower().rstrip(".")
    for entry in (h.strip().lower().rstrip(".") for h in hosts):
        if entry and (host == entry or (entry.startswith(".") and host.endswith(entry))):
            return True
    return False


class Refused(Invalid):
    """An attachment URL that is not fetched, or whose download failed."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"attachment {name!r}: {why}")


class RefusedTooLarge(TooLarge):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"attachment {name!r}: {why}")


async def check_url(
    url: str, name: str, settings: Settings, resolver: Resolver = resolve
) -> tuple[str, int]:
    """The URL's host and port, once it may be fetched; Refused naming why not."""
    if not settings.attachment_url_hosts:
        raise Refused(name, "URL attachments are off (MCS_ATTACHMENT_URL_HOSTS is empty)")
    parts = urlsplit(url)
    schemes = ("https",) if settings.production else ("https", "http")
    if parts.scheme not in schemes:
        raise Refused(name, f"the url must be {' or '.join(schemes)}")
    host = parts.hostname or ""
    if not allowed_host(host, settings.attachment_url_hosts):
        raise Refused(name, f"the host {host!r} is not in MCS_ATTACHMENT_URL_HOSTS")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await resolver(host, port)
    except (OSError, ValueError) as error:
        raise Refused(name, f"the host {host!r} cannot be resolved") from error
    dev = not settings.production
    if not addresses or not all(allowed_address(a, dev) for a in addresses):
        raise Refused(name, f"the host {host!r} has a private, loopback or link-local address")
    return host, port


async def download(url: str, name: str, settings: Settings, resolver: Resolver = resolve) -> bytes:
    """The bytes at `url`, within the deadline and the size limit."""
    await check_url(url, name, settings, resolver)
    limit = settings.max_attachment_bytes
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            return await _fetch(url, name, limit, not settings.production)
    except TimeoutError as error:
        raise Refused(name, f"the download took over {DEADLINE_SECONDS:.0f} s") from error
    except httpx.HTTPError as error:
        raise Refused(name, f"the download failed ({type(error).__name__})") from error


async def _fetch(url: str, name: str, limit: int, dev: bool) -> bytes:
    async with (
        httpx.AsyncClient(follow_redirects=False, trust_env=False) as client,
        client.stream("GET", url) as response,
    ):
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer is None or not allowed_address(str(peer[0]), dev):
            raise Refused(name, "the connection went to a private, loopback or link-local address")
        if response.is_redirect:
            raise Refused(name, f"the server redirects (HTTP {response.status_code}); not followed")
        if response.status_code != 200:
            raise Refused(name, f"the server answered HTTP {response.status_code}")
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > limit:
                raise RefusedTooLarge(name, f"over {limit} bytes")
        return bytes(data)
