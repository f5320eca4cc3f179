"""Hostile input over HTTP: every message of the hostile corpus gets a 202 or a 4xx that says
what is wrong, never a 5xx; request bodies are capped; JSON nulls are "not given"."""

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from models.email import EmailEvent
from sandbox.demo import make_email
from sandbox.hostile import corpus
from settings import Settings
from temporal_client import accepted_result
from tests.helpers import open_api

EXPECTED = {
    "brackets-only-message-id": 202,
    "spaced-message-id": 202,
    "eight-bit-headers": 202,
    "line-separators-in-subject": 202,
    "fake-pdf": 422,  # claims to be a PDF, is not one
    "deep-nesting": 422,
    "many-parts": 422,
    "huge-body": 202,  # the body is cut for the workflow
    "no-headers-at-all": 422,  # no From address
    "broken-base64": 422,  # a "PDF" whose bytes are not one
    "huge-headers": 202,  # the subject, the sender's name and the file name are cut
    "overlong-address": 422,
    "too-many-recipients": 422,
    "overlong-message-id": 422,  # cut, it could equal another mail's
    "overlong-header-field": 422,  # refused before parsing
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_each_hostile_message_gets_a_clear_answer(api: httpx.AsyncClient, name: str) -> None:
    raw = corpus()[name]
    response = await api.post("/v1/emails", content=raw, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == EXPECTED[name], response.text
    if response.status_code == 422:
        assert response.json()["detail"]  # says what is wrong


async def test_a_run_from_a_huge_body_starts_with_the_body_cut(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:

    raw = corpus()["huge-body"].replace(b"<huge@x>", b"<huge-run@x>")
    answer = await api.post("/v1/emails", content=raw, headers={"Content-Type": "message/rfc822"})
    assert answer.status_code == 202, answer.text
    result = await accepted_result(dev_env.client, answer.json()["workflow_id"])
    assert result.status == "IGNORED"  # started and ran: not a contract mail


async def test_overlong_fields_are_refused_or_cut(api: httpx.AsyncClient) -> None:
    """Addresses, ids and lists past their limits get a 422 naming the field; display text (the
    subject, the sender's name, a file name) is cut to one line of its limit."""
    email = make_email().model_dump(mode="json", by_alias=True)
    for field, value in (
        ("from_email", "a" * 400 + "@huadong.example"),
        ("to", [f"r{n}@x.example" for n in range(1001)]),
        ("message_id", "<" + "m" * 1200 + "@x>"),
        ("account", "a" * 300),
    ):
        answer = await api.post("/v1/orchestrations/sales-email/run", json={**email, field: value})
        assert answer.status_code == 422, (field, answer.text)
        [error] = answer.json()["detail"]
        assert field in error["loc"] and "input" not in error  # what is wrong, not the input back

    long = {**email, "subject": "s\r\nBcc: x@y" + "s" * 2000, "from": "L" * 2000}
    long["attachments"] = [{**email["attachments"][0], "filename": "合同\n" + "n" * 400 + ".pdf"}]
    event = EmailEvent.model_validate(long)
    assert len(event.subject) == 998 and "\n" not in event.subject
    assert len(event.from_) == 998
    [attachment] = event.attachments
    assert len(attachment.filename) == 255 and attachment.filename.startswith("合同 nnn")


async def test_json_nulls_are_not_given(api: httpx.AsyncClient) -> None:
    email = make_email().model_dump(mode="json", by_alias=True)
    email.update(uid=None, subject=None, folder=None, body_html=None)
    email["attachments"][0]["sha256"] = None
    answer = await api.post("/v1/orchestrations/sales-email/run", json=email)
    assert answer.status_code == 202, answer.text


async def test_request_bodies_over_the_limit_are_refused_unread(
    dev_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    small = dev_settings.model_copy(update={"max_attachment_bytes": 3000})
    limit = small.max_message_bytes
    async for api in open_api(small, dev_env):
        declared = await api.post(
            "/v1/emails", content=b"x" * (limit + 70_000),
            headers={"Content-Type": "message/rfc822"},
        )  # fmt: skip
        assert declared.status_code == 413 and "over" in declared.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b"y" * 50_000

        streamed = await api.post(
            "/v1/orchestrations/sales-email/run", content=chunks(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert streamed.status_code == 413
