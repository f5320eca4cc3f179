"""The Dify activity: answer parsing and error classification, with httpx.MockTransport."""

import json
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.dify import DifyActivities, extract_json
from models.results import ContractInput
from settings import Settings

CONTRACT = {"ok": True, "contract_meta": {"contract_no": "HT-1"}, "items": [{"product_code": "P"}]}


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(CONTRACT),
        f"```json\n{json.dumps(CONTRACT)}\n```",
        f"<think>let me see {{not json}}</think>\n```json\n{json.dumps(CONTRACT)}\n```",
        f"Here is the result:\n{json.dumps(CONTRACT)}\nHope it helps.",
        f"</think>{json.dumps(CONTRACT)}",
    ],
)
def test_extract_json_tolerates_llm_wrapping(answer: str) -> None:
    assert extract_json(answer) == CONTRACT


@pytest.mark.parametrize(
    "answer",
    ["", "Sorry, I cannot read that.", "[1, 2]", '{"ok": true, "items": [{"product_code": "P"'],
)
def test_extract_json_rejects_answers_without_an_object(answer: str) -> None:
    with pytest.raises(ValueError):
        extract_json(answer)


def _activities(handler: Any) -> DifyActivities:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return DifyActivities(http, Settings(dify_base_url="http://dify.test"))


ASK = ContractInput(
    file_url="http://api/files/x.pdf", filename="x.pdf", customer_id="C1", customer_num="N1"
)


async def test_contract_request_follows_the_dify_wire_format() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["authorization"]
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={"answer": json.dumps(CONTRACT)})

    result = await ActivityEnvironment().run(_activities(handler).call_dify_contract, ASK)
    assert result.ok and result.contract_meta and result.contract_meta.contract_no == "HT-1"
    assert seen["auth"] == "Bearer app-contract-dev"
    body = seen["body"]
    assert body["response_mode"] == "blocking" and body["user"] and body["conversation_id"] == ""
    assert body["inputs"]["customer_id"] == "C1" and body["inputs"]["customer_num"] == "N1"
    assert body["inputs"]["contract_file"] == {
        "type": "document",
        "transfer_method": "remote_url",
        "url": ASK.file_url,
    }


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (401, False), (429, True), (503, True)]
)
async def test_http_errors_are_classified(status: int, retryable: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"code": "x", "message": "y", "status": status})

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(_activities(handler).call_dify_contract, ASK)
    assert raised.value.non_retryable is not retryable


async def test_streamed_answer_is_accepted() -> None:
    chunks = [{"event": "message", "answer": a} for a in ('{"ok": false, ', '"reason": "blurry"}')]
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "event: ping\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})

    result = await ActivityEnvironment().run(_activities(handler).call_dify_contract, ASK)
    assert not result.ok and result.reason == "blurry"


async def test_non_json_answer_is_a_retryable_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"answer": "I am sorry"})

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(_activities(handler).call_dify_contract, ASK)
    assert raised.value.type == "DifyBadAnswer" and not raised.value.non_retryable
