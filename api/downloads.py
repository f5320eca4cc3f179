"""Attachments given by URL, fetched without opening a door into our network.

Only hosts in MCS_ATTACHMENT_URL_HOSTS are asked (none: URL attachments are refused), over https
in production; the host's addresses must be public (loopback too in dev, where the simulators
run): none may be in REFUSED, and the connection goes to the address that was checked (with the
host's name for TLS and `Host`), so a DNS answer that changes in between cannot redirect it; no
redirect is followed; the body is taken as sent (`Accept-Encoding: identity`; a compressed
answer is refused: 334 bytes of gzip, twice, became 100 MiB before the size check); one deadline
covers the whole download; the size is capped; and an error names what went wrong without
echoing what the other side answered.
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


# Never asked, whatever a name resolves to: this machine, private and shared networks, link and
# site locals, multicast, reserved and documentation ranges, and every form that embeds an IPv4
# address in IPv6 (mapped, compatible, NAT64, 6to4, Teredo) and so could reach any of those.
REFUSED = [
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48",
        "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10",
        "fec0::/10", "ff00::/8",
    )
]  # fmt: skip
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


def allowed_address(address: str, dev: bool) -> bool:
    """An address outside REFUSED; in dev, loopback as well (the simulators run there)."""
    ip: Address = ipaddress.ip_address(address.split("%")[0])
    if dev and any(ip in net for net in LOOPBACK if net.version == ip.version):
        return True
    return not any(ip in net for net in REFUSED if net.version == ip.version)


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
) -> tuple[str, int, str]:
    """The URL's host, port and the address to connect to, once it may be fetched; Refused
    naming why not."""
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
    return host, port, addresses[0]


async def download(url: str, name: str, settings: Settings, resolver: Resolver = resolve) -> bytes:
    """The bytes at `url`, within the deadline and the size limit."""
    host, _, address = await check_url(url, name, settings, resolver)
    limit = settings.max_attachment_bytes
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            return await _fetch(url, host, address, name, limit, not settings.production)
    except TimeoutError as error:
        raise Refused(name, f"the download took over {DEADLINE_SECONDS:.0f} s") from error
    except httpx.HTTPError as error:
        raise Refused(name, f"the download failed ({type(error).__name__})") from error


def pinned(url: str, address: str) -> str:
    """`url` with its host replaced by `address` (the one checked)."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return parts._replace(netloc=netloc).geturl()


async def _fetch(url: str, host: str, address: str, name: str, limit: int, dev: bool) -> bytes:
    headers = {"Host": urlsplit(url).netloc.rpartition("@")[2], "Accept-Encoding": "identity"}
    async with (
        httpx.AsyncClient(follow_redirects=False, trust_env=False) as client,
        client.stream(
            "GET", pinned(url, address), headers=headers, extensions={"sni_hostname": host}
        ) as response,
    ):
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer is None or not allowed_address(str(peer[0]), dev):
            raise Refused(name, "the connection went to a private, loopback or link-local address")
        if response.is_redirect:
            raise Refused(name, f"the server redirects (HTTP {response.status_code}); not followed")
        if response.status_code != 200:
            raise Refused(name, f"the server answered HTTP {response.status_code}")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise Refused(name, f"the server sent it compressed ({encoding[:40]}); not taken")
        data = bytearray()
        async for chunk in response.aiter_raw():
            data += chunk
            if len(data) > limit:
                raise RefusedTooLarge(name, f"over {limit} bytes")
        return bytes(data)
