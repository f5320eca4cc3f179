"""Requests as an attacker sends them: no key, a body built to explode when parsed, claims of
authentication, a file named by its hash alone. Each gets a clear 4xx, and nothing unchecked
reaches a run."""

import asyncio
import base64
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from starlette.types import Message, Scope
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.gate import Gate
from api.replay import original_input
from mail.filetypes import sniff_content_type
from sandbox.demo import make_email, raw_contract_email
from settings import Settings
from tests.helpers import open_api

RUN = "/v1/orchestrations/sales-email/run"
SUBMIT_KEY, GATEWAY_KEY = "app-key-0123456789abcdef", "mx-gateway-key-0123456789"
PASS = "mx.mcs.example; dkim=pass header.d=huadong.example; dmarc=pass header.from=huadong.example"


@pytest_asyncio.fixture(scope="module")
async def keyed(
    dev_settings: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with an application's key (emails:submit) and a mail gateway's (+emails:trusted)."""
    keys = [
        f"app:{SUBMIT_KEY}:emails:submit",
        f"gateway:{GATEWAY_KEY}:emails:submit+emails:trusted",
    ]
    settings = dev_settings.model_copy(update={"api_keys": keys})
    async for client in open_api(settings, dev_env):
        client.headers["X-API-Key"] = SUBMIT_KEY
        yield client


async def test_a_keyless_body_is_refused_before_a_byte_is_read(dev_settings: Settings) -> None:
    reads, sent, reached = 0, [], False

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"[" + b"{}," * 1000, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": RUN, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"36000000")]}  # fmt: skip
    await Gate(app, dev_settings)(scope, receive, send)
    assert sent[0]["status"] == 401 and (reads, reached) == (0, False)


async def test_json_built_to_explode_is_refused_before_it_is_parsed(
    keyed: httpx.AsyncClient,
) -> None:
    bomb = b'{"from_email": "a@b.example", "to": [' + b",".join([b"{}"] * 30_000) + b"]}"
    answer = await keyed.post(RUN, content=bomb, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "objects and lists" in answer.json()["detail"]
    big = b'{"workflow_id": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    replay = await keyed.post("/v1/orchestrations/sales-email/replay", content=big,
                              headers={"content-type": "application/json"})  # fmt: skip
    assert replay.status_code == 413  # a route that takes a few bytes takes a small body
    quoting = make_email().model_copy(update={"body_text": "if (x) { " * 25_000})
    text = await keyed.post(RUN, json=quoting.model_dump(mode="json", by_alias=True))
    assert text.status_code == 202, text.text  # brackets in a string are text, not a bomb
    escaped = bomb.replace(b'"to": [', b'"subject": "\\" [{", "to": [')
    refused = await keyed.post(RUN, content=escaped, headers={"content-type": "application/json"})
    assert refused.status_code == 413  # an escaped quote does not hide the bomb after it


async def test_a_nul_character_in_json_is_refused_whatever_the_route(
    keyed: httpx.AsyncClient,
) -> None:
    """No field takes NUL, and PostgreSQL cannot store it in text (it was a 500 there)."""
    email = make_email().model_copy(update={"subject": "采购合同\x00HT-1"})
    answer = await keyed.post(RUN, json=email.model_dump(mode="json", by_alias=True))
    assert answer.status_code == 422 and "NUL" in answer.json()["detail"], answer.text
    company = await keyed.post(
        "/v1/masterdata/companies", json={"company_id": "a\x00", "name": "b"}
    )
    assert company.status_code == 422 and "NUL" in company.json()["detail"]
    quoted = make_email().model_copy(update={"subject": "a backslash, then u0000: \\u0000"})
    text = await keyed.post(RUN, json=quoted.model_dump(mode="json", by_alias=True))
    assert text.status_code == 202, text.text  # an escaped backslash before u0000 is text


async def test_authentication_claims_count_only_from_a_trusted_gateway(
    keyed: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """An application's key cannot vouch for the sender: its Authentication-Results are dropped
    before the run sees them; a gateway's (emails:trusted) are kept."""
    kept = {}
    for key in (SUBMIT_KEY, GATEWAY_KEY):
        raw = f"Authentication-Results: {PASS}\r\n".encode() + raw_contract_email()
        uploaded = await keyed.post("/v1/emails", content=raw, headers={
            "content-type": "message/rfc822", "X-API-Key": key})  # fmt: skip
        email = make_email().model_copy(update={"auth_results": [PASS]})
        posted = await keyed.post(RUN, json=email.model_dump(mode="json", by_alias=True),
                                  headers={"X-API-Key": key})  # fmt: skip
        for answer in (uploaded, posted):
            assert answer.status_code == 202, answer.text
            handle = dev_env.client.get_workflow_handle(answer.json()["workflow_id"])
            started = await original_input(dev_env.client, await _history(handle))
            kept[(key, answer.url.path)] = started.auth_results
    assert kept == {
        (SUBMIT_KEY, "/v1/emails"): [], (SUBMIT_KEY, RUN): [],
        (GATEWAY_KEY, "/v1/emails"): [PASS], (GATEWAY_KEY, RUN): [PASS],
    }  # fmt: skip


async def _history(handle: Any) -> Any:
    for _ in range(100):
        try:
            return await handle.fetch_history()
        except RPCError:  # the outbox starts the run a moment after the answer
            await asyncio.sleep(0.1)
    raise AssertionError("the run never started")


async def test_a_json_from_naming_another_address_is_a_sender_problem(
    keyed: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    email = make_email().model_copy(update={"from_": '"Li Lei" <attacker@evil.example>'})
    answer = await keyed.post(RUN, json=email.model_dump(mode="json", by_alias=True))
    handle = dev_env.client.get_workflow_handle(answer.json()["workflow_id"])
    started = await original_input(dev_env.client, await _history(handle))
    assert started.sender_problem == "the From: names another address than from_email"


async def test_a_file_named_by_its_hash_alone_must_exist_and_is_typed_by_its_bytes(
    keyed: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    stored = make_email()
    first = await keyed.post(RUN, json=stored.model_dump(mode="json", by_alias=True))
    handle = dev_env.client.get_workflow_handle(first.json()["workflow_id"])
    pdf = (await original_input(dev_env.client, await _history(handle))).attachments[0]
    claims = {"filename": "photo.png", "content_type": "image/png", "size": 1, "sha256": pdf.sha256}
    again = make_email(message_id="<by-hash@x.example>").model_dump(mode="json", by_alias=True)
    again["attachments"] = [claims]
    answer = await keyed.post(RUN, json=again)
    assert answer.status_code == 202, answer.text
    handle = dev_env.client.get_workflow_handle(answer.json()["workflow_id"])
    [taken] = (await original_input(dev_env.client, await _history(handle))).attachments
    assert (taken.content_type, taken.size) == ("application/pdf", pdf.size)
    again["attachments"] = [{**claims, "sha256": "0" * 64}]
    unknown = await keyed.post(RUN, json=again)
    assert unknown.status_code == 422 and "no stored file has that sha256" in unknown.text
    again["attachments"] = [{**claims, "sha256": "../../etc/passwd"}]
    assert (await keyed.post(RUN, json=again)).status_code == 422


def test_a_zip_python_cannot_open_is_no_office_file() -> None:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("[Content_Types].xml", "x")
        archive.writestr("word/document.xml", "x")
    raw = bytearray(data.getvalue())
    raw[raw.find(b"PK\x01\x02") + 6] = 200  # "needs zip 20.0": zipfile's NotImplementedError
    try:
        zipfile.ZipFile(io.BytesIO(bytes(raw)))
    except NotImplementedError:
        pass
    else:
        raise AssertionError("the crafted zip opened")
    assert sniff_content_type(bytes(raw), "application/octet-stream") == "application/octet-stream"


async def test_a_zip_python_cannot_open_is_taken_as_a_plain_file(keyed: httpx.AsyncClient) -> None:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("[Content_Types].xml", "x")
    raw = bytearray(data.getvalue())
    raw[raw.find(b"PK\x01\x02") + 6] = 200
    body = make_email().model_dump(mode="json", by_alias=True)
    body["attachments"][0].update(filename="c.docx", content_type="application/octet-stream",
                                  bytes_b64=base64.b64encode(raw).decode())  # fmt: skip
    assert (await keyed.post(RUN, json=body)).status_code == 202
