"""URL attachments: only listed hosts with public addresses, no redirects, one deadline, a size
cap, and errors that do not echo the remote answer. Traffic goes to loopback only: private and
link-local addresses are checked with a stub resolver, never connected to."""

import asyncio
import gzip
import ipaddress
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response

from api import downloads
from api.problems import status_of
from models.errors import Problem
from sandbox.demo import contract_pdf
from settings import Settings
from tests.helpers import free_port, serve

PRODUCTION = Settings(env="production", attachment_url_hosts=["files.example", ".cdn.example"])
DEV = Settings(attachment_url_hosts=["127.0.0.1"], max_attachment_bytes=100_000)


def resolving_to(*addresses: str) -> downloads.Resolver:
    async def resolver(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolver


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "::1", "169.254.169.254", "fe80::1", "10.0.0.5", "172.16.3.4",
        "192.168.1.1", "100.64.0.1", "fc00::1", "::ffff:10.0.0.1", "0.0.0.0",
    ],
)  # fmt: skip
async def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    url = "https://files.example/contract.pdf"
    with pytest.raises(Problem) as refused:
        await downloads.check_url(url, "c.pdf", PRODUCTION, resolving_to(address))
    assert status_of(refused.value) == 422
    assert "private, loopback or link-local address" in refused.value.detail


async def test_a_listed_host_with_public_addresses_passes_and_others_do_not() -> None:
    public = resolving_to("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    assert await downloads.check_url("https://files.example/a.pdf", "a", PRODUCTION, public)
    assert await downloads.check_url("https://eu.cdn.example/a.pdf", "a", PRODUCTION, public)
    mixed = resolving_to("93.184.216.34", "10.0.0.1")  # one private answer is enough to refuse
    for url, settings, resolver, why in (
        ("https://files.example/a.pdf", PRODUCTION, mixed, "private"),
        ("https://other.example/a.pdf", PRODUCTION, public, "not in MCS_ATTACHMENT_URL_HOSTS"),
        ("https://cdn.example.evil/a.pdf", PRODUCTION, public, "not in"),
        ("http://files.example/a.pdf", PRODUCTION, public, "must be https"),
        ("ftp://files.example/a.pdf", DEV, public, "must be https or http"),
        ("https://files.example/a.pdf", Settings(), public, "URL attachments are off"),
    ):
        with pytest.raises(Problem, match=why):
            await downloads.check_url(url, "a", settings, resolver)


@pytest_asyncio.fixture(scope="module")
async def origin() -> AsyncIterator[str]:
    """A file server on loopback: a PDF, a redirect, an error page, a big file, a slow one."""
    app = FastAPI()
    pdf = contract_pdf("HT-URL-1")

    @app.get("/ok.pdf")
    async def ok() -> Response:
        return Response(pdf, media_type="application/pdf")

    @app.get("/moved.pdf")
    async def moved() -> RedirectResponse:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/")

    @app.get("/error.pdf")
    async def error() -> Response:
        return Response("internal: db password is hunter2", status_code=500)

    @app.get("/big.pdf")
    async def big() -> Response:
        return Response(b"%PDF" + b"0" * 200_000, media_type="application/pdf")

    @app.get("/bomb.pdf")
    async def bomb() -> Response:  # 100 MiB of zeros, gzipped twice: a few hundred bytes
        packed = gzip.compress(gzip.compress(b"\0" * (100 * 1024 * 1024)))
        return Response(packed, media_type="application/pdf",
                        headers={"Content-Encoding": "gzip, gzip"})  # fmt: skip

    @app.get("/slow.pdf")
    async def slow() -> Response:
        await asyncio.sleep(2)
        return Response(pdf, media_type="application/pdf")

    async with serve(app, free_port()) as url:
        yield url


async def test_fetching_on_loopback_in_dev(origin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await downloads.download(f"{origin}/ok.pdf", "ok", DEV)).startswith(b"%PDF")
    cases = [
        ("moved.pdf", 422, "redirects (HTTP 307); not followed"),
        ("error.pdf", 422, "answered HTTP 500"),
        ("big.pdf", 413, "over 100000 bytes"),
    ]
    for path, status, why in cases:
        with pytest.raises(Problem) as refused:
            await downloads.download(f"{origin}/{path}", path, DEV)
        assert status_of(refused.value) == status and why in refused.value.detail
        assert "hunter2" not in refused.value.detail
    monkeypatch.setattr(downloads, "DEADLINE_SECONDS", 0.3)
    with pytest.raises(Problem, match="took over"):
        await downloads.download(f"{origin}/slow.pdf", "slow", DEV)
    production = DEV.model_copy(update={"env": "production"})
    https = origin.replace("http://", "https://")
    with pytest.raises(Problem, match="private, loopback or link-local"):
        await downloads.download(f"{https}/ok.pdf", "ok", production)  # refused, not connected


def sample(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """An address inside `net` (not its first, where it has more than one)."""
    return str(net[1] if net.num_addresses > 1 else net[0])


@pytest.mark.parametrize("address", [sample(n) for n in downloads.REFUSED] + [
    "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "::127.0.0.1", "fec0::1", "::ffff:169.254.169.254",
])  # fmt: skip
async def test_every_refused_range_is_refused(address: str) -> None:
    assert not downloads.allowed_address(address, dev=False)
    with pytest.raises(Problem, match="private, loopback or link-local"):
        await downloads.check_url("https://files.example/a.pdf", "a", PRODUCTION,
                                  resolving_to(address))  # fmt: skip


def test_public_addresses_pass() -> None:
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"):
        assert downloads.allowed_address(address, dev=False), address


async def test_a_compressed_answer_is_refused_before_it_is_inflated(origin: str) -> None:
    with pytest.raises(Problem, match="compressed"):
        await downloads.download(f"{origin}/bomb.pdf", "bomb", DEV)


async def test_the_connection_goes_to_the_address_that_was_checked(origin: str) -> None:
    """`files.example` resolves (here) to the loopback file server once, when it is checked; the
    download connects there, by that address, never asking DNS again (a rebinding answer)."""
    port = origin.rsplit(":", 1)[1]
    settings = DEV.model_copy(update={"attachment_url_hosts": ["files.example"]})
    asked: list[str] = []

    async def once(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"] if len(asked) == 1 else ["169.254.169.254"]

    data = await downloads.download(f"http://files.example:{port}/ok.pdf", "ok", settings, once)
    assert data.startswith(b"%PDF") and asked == ["files.example"]
