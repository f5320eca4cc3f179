"""The masterdata API on SQLite and on a real PostgreSQL server."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from models.migrate import upgrade
from sandbox.postgres import create_database
from settings import Settings
from tests.helpers import open_api

MD = "/v1/masterdata"


@pytest_asyncio.fixture(scope="module", params=["sqlite", "postgresql"])
async def md(
    request: pytest.FixtureRequest, settings: Settings, data_dir: Path, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    """An API client on an empty, migrated database of each kind."""
    name = f"md_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / name}.db"
    else:
        url = create_database(request.getfixturevalue("postgres"), name)
    upgrade(url)
    async for client in open_api(settings.model_copy(update={"database_url": url}), dev_env):
        yield client


def customer(key: str, **changes: Any) -> dict[str, Any]:
    return {"customer_id": key, "customer_num": f"N-{key}", "name": f"客户 {key} 有限公司",
            "aliases": [f"alias {key}"]} | changes  # fmt: skip


def contact(key: str, customer_id: str, **changes: Any) -> dict[str, Any]:
    return {"contact_id": key, "email": f"{key.lower()}@example.com", "name": key,
            "customer_id": customer_id} | changes  # fmt: skip


async def test_customer_crud(md: httpx.AsyncClient) -> None:
    assert (await md.post(f"{MD}/customers", json=customer("A1"))).status_code == 201
    again = await md.post(f"{MD}/customers", json=customer("A1", name="Renamed Co"))
    assert again.status_code == 200 and again.json()["name"] == "Renamed Co"
    assert (await md.get(f"{MD}/customers/A1")).json()["aliases"] == ["alias A1"]
    put = await md.put(f"{MD}/customers/A1", json=customer("A1", aliases=["x", " x ", ""]))
    assert put.status_code == 200 and put.json()["aliases"] == ["x"]
    assert (await md.put(f"{MD}/customers/A2", json=customer("A1"))).status_code == 422
    assert (await md.delete(f"{MD}/customers/A1")).status_code == 204
    assert (await md.get(f"{MD}/customers/A1")).status_code == 404
    assert (await md.delete(f"{MD}/customers/A1")).status_code == 404


async def test_listing_filters_and_pages(md: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = [customer(f"L{tag}{i}", name=f"Listing {tag} {i}") for i in range(5)]
    contacts = [contact(f"LC{tag}", rows[0]["customer_id"], email=f"Buyer.{tag}@Example.com")]
    assert (
        await md.put(f"{MD}/bulk", json={"customers": rows, "contacts": contacts})
    ).status_code == 200
    page = (
        await md.get(f"{MD}/customers", params={"q": f"listing {tag}", "limit": 2, "offset": 2})
    ).json()
    assert page["total"] == 5 and page["offset"] == 2 and page["limit"] == 2
    assert [r["customer_id"] for r in page["items"]] == [f"L{tag}2", f"L{tag}3"]
    by_email = (await md.get(f"{MD}/contacts", params={"email": f"BUYER.{tag}@example.com"})).json()
    assert [r["contact_id"] for r in by_email["items"]] == [f"LC{tag}"]
    by_customer = (
        await md.get(f"{MD}/contacts", params={"customer_id": rows[0]["customer_id"]})
    ).json()
    assert by_customer["total"] == 1
    assert (await md.get(f"{MD}/customers", params={"limit": 0})).status_code == 422


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("customers", customer("V1", name="  "), "must not be empty"),
        ("contacts", contact("VC1", "V0", email="not-an-email"), "not an email address"),
        ("contacts", contact("VC2", "NOPE"), "unknown customer"),
        ("products", {"product_id": "P", "product_code": ""}, "must not be empty"),
    ],
)
async def test_invalid_rows_are_422(
    md: httpx.AsyncClient, path: str, body: dict[str, Any], message: str
) -> None:
    await md.post(f"{MD}/customers", json=customer("V0"))
    response = await md.post(f"{MD}/{path}", json=body)
    assert response.status_code == 422
    assert message in response.text


async def test_duplicates_are_422(md: httpx.AsyncClient) -> None:
    await md.post(f"{MD}/customers", json=customer("D1"))
    duplicate_number = await md.post(f"{MD}/customers", json=customer("D2", customer_num="N-D1"))
    assert duplicate_number.status_code == 422 and "customer_num 'N-D1'" in duplicate_number.text
    await md.post(f"{MD}/contacts", json=contact("DC1", "D1"))
    duplicate_email = await md.post(
        f"{MD}/contacts", json=contact("DC2", "D1", email="DC1@example.com")
    )
    assert duplicate_email.status_code == 422 and "dc1@example.com" in duplicate_email.text


async def test_customer_with_contacts_cannot_be_deleted(md: httpx.AsyncClient) -> None:
    await md.post(f"{MD}/customers", json=customer("K1"))
    await md.post(f"{MD}/contacts", json=contact("KC1", "K1"))
    response = await md.delete(f"{MD}/customers/K1")
    assert response.status_code == 409 and "KC1" in response.text


async def test_bulk_is_all_or_nothing_with_a_report(md: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:6]
    first = await md.put(
        f"{MD}/bulk", json={"customers": [customer(f"B{tag}1"), customer(f"B{tag}2")]}
    )
    assert first.json()["changes"]["customers"]["created"] == [f"B{tag}1", f"B{tag}2"]
    version = (await md.get(f"{MD}/version")).json()["version"]
    bad = {"customers": [customer(f"B{tag}3")], "contacts": [contact(f"BC{tag}", "MISSING")]}
    response = await md.put(f"{MD}/bulk", json=bad)
    assert response.status_code == 422 and "unknown customer" in response.text
    assert (await md.get(f"{MD}/customers/B{tag}3")).status_code == 404
    assert (await md.get(f"{MD}/version")).json()["version"] == version
    second = await md.put(
        f"{MD}/bulk", json={"customers": [customer(f"B{tag}1"), customer(f"B{tag}2", name="New")]}
    )
    report = second.json()["changes"]["customers"]
    assert (
        report["updated"] == [f"B{tag}2"] and report["unchanged"] == 1 and report["created"] == []
    )
    assert second.json()["version"] == version + 1


async def test_replace_mode_deletes_what_is_missing(md: httpx.AsyncClient) -> None:
    everything = (await md.get(f"{MD}/all")).json()
    kept = [c for c in everything["customers"] if c["customer_id"] != "A-GONE"]
    await md.post(f"{MD}/customers", json=customer("A-GONE"))
    response = await md.put(
        f"{MD}/bulk", params={"mode": "replace"}, json={**everything, "customers": kept}
    )
    assert response.status_code == 200, response.text
    assert response.json()["changes"]["customers"]["deleted"] == ["A-GONE"]
    assert (await md.get(f"{MD}/all")).json() == {**everything, "customers": kept}


async def test_version_and_checksum_follow_every_write(md: httpx.AsyncClient) -> None:
    before = (await md.get(f"{MD}/version")).json()
    await md.post(f"{MD}/companies", json={"company_id": "CO1", "name": "Our company"})
    after = (await md.get(f"{MD}/version")).json()
    assert after["version"] == before["version"] + 1
    assert after["checksum"] != before["checksum"] and len(after["checksum"]) == 64
    assert (await md.get(f"{MD}/version")).json() == after


def ref(key: str, customer_id: str, said: str, code: str, **changes: Any) -> dict[str, Any]:
    return {"ref_id": key, "customer_id": customer_id, "ref": said, "product_code": code} | changes


async def test_product_references(md: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    c1, c2, code = f"R1{tag}", f"R2{tag}", f"P-{tag}"
    for row in (customer(c1), customer(c2)):
        assert (await md.post(f"{MD}/customers", json=row)).status_code == 201
    product = {"product_id": f"PR{tag}", "product_code": code, "name": "pump", "unit": "pcs"}
    assert (await md.post(f"{MD}/products", json=product)).status_code == 201
    made = await md.post(f"{MD}/product_refs", json=ref(f"X{tag}", c1, "HD-BRG-6204", code,
                                                        unit_factor="2"))  # fmt: skip
    assert made.status_code == 201 and made.json()["source"] == "manual", made.text
    assert made.json()["active"] is True and made.json()["unit_factor"] == "2.000000"
    refused = {
        "unknown product": ref(f"Y{tag}", c1, "A", "NOPE"),
        "unknown customer": ref(f"Y{tag}", "NOBODY", "A", code),
        "the same reference": ref(f"Y{tag}", c1, " hd-brg-6204 ", code),  # compared as codes are
        "positive": ref(f"Y{tag}", c1, "B", code, unit_factor="0"),
    }
    for why, row in refused.items():
        answer = await md.post(f"{MD}/product_refs", json=row)
        assert answer.status_code == 422 and why in answer.text, (why, answer.text)
    # the same code of another customer is another reference; a learned one is a proposal
    proposal = ref(f"Z{tag}", c2, "HD-BRG-6204", code, source="learned", active=False,
                   learned_from="sales-email-x", created_by="anna")  # fmt: skip
    assert (await md.post(f"{MD}/product_refs", json=proposal)).status_code == 201
    learned = (await md.get(f"{MD}/product_refs", params={"source": "learned"})).json()
    assert [r["ref_id"] for r in learned["items"]] == [f"Z{tag}"]
    own = (await md.get(f"{MD}/product_refs", params={"customer_id": c1})).json()
    assert [r["ref_id"] for r in own["items"]] == [f"X{tag}"]
    approved = await md.post(f"{MD}/product_refs/Z{tag}/approve")
    assert approved.status_code == 200 and approved.json()["active"] is True
    assert f"Z{tag}" in {r["ref_id"] for r in (await md.get(f"{MD}/all")).json()["product_refs"]}
    held = await md.delete(f"{MD}/customers/{c1}")
    assert held.status_code == 409 and "references" in held.text
    assert (await md.delete(f"{MD}/product_refs/X{tag}")).status_code == 204
    assert (await md.get(f"{MD}/product_refs/X{tag}")).status_code == 404
