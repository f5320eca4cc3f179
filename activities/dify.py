"""Dify chatflows: read the contract PDF and draft the ERP order payload."""

import json
import re
from typing import Any

import httpx
from langchain_core.exceptions import OutputParserException
from langchain_core.utils.json import parse_json_markdown
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities._http import heartbeating, raise_for_status
from models.errors import ErrorType, transient
from models.orders import OrderPayload
from models.results import (
    ContractInput,
    ContractItem,
    ContractMeta,
    ContractResult,
    OrderPayloadInput,
    OrderPayloadResult,
)
from settings import Settings
from telemetry.metrics import DIFY_CALLS
from telemetry.tracing import Tracer

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def extract_json(answer: str) -> dict[str, Any]:
    """The JSON object in an LLM answer, tolerating think tags, fences and surrounding prose.

    Parsing is strict: a truncated answer must fail rather than become half an order, so
    langchain's fence handling is used with `json.loads` instead of its partial-JSON parser.
    """
    text = _THINK.sub("", answer).replace("</think>", "").strip()
    start, end = text.find("{"), text.rfind("}")
    candidates = [text] + ([text[start : end + 1]] if 0 <= start < end else [])
    for candidate in candidates:
        try:
            value = parse_json_markdown(candidate, parser=json.loads)
        except (OutputParserException, ValueError):
            continue
        if isinstance(value, dict):
            return value
    raise ValueError(f"no JSON object in the answer ({len(answer)} characters)")


def answer_from_sse(body: str) -> str:
    """Concatenate the answer chunks of a streamed chatflow answer (Dify 1.13 ignored blocking)."""
    parts: list[str] = []
    for line in body.splitlines():
        if not line.startswith("data:"):
            continue
        event = json.loads(line[5:].strip() or "{}")
        if event.get("event") == "error":
            raise ApplicationError(
                f"Dify stream error: {event.get('message')}", type=ErrorType.DIFY_STREAM_ERROR
            )
        if event.get("event") in {"message", "agent_message"}:
            parts.append(str(event.get("answer", "")))
    return "".join(parts)


OUTCOMES = {
    ErrorType.DIFY_CLIENT_ERROR: "client_error",
    transient(ErrorType.DIFY_CLIENT_ERROR): "server_error",
    ErrorType.DIFY_BAD_ANSWER: "bad_answer",
    ErrorType.DIFY_STREAM_ERROR: "stream_error",
}


class DifyActivities:
    """Calls the two Dify apps over `/v1/chat-messages` in blocking mode."""

    def __init__(
        self, http: httpx.AsyncClient, settings: Settings, tracer: Tracer | None = None
    ) -> None:
        self._http = http
        self._settings = settings
        self._tracer = tracer or Tracer(None)

    async def _ask(
        self, app_key: str, inputs: dict[str, Any], file_url: str, file_type: str
    ) -> dict[str, Any]:
        app = "contract" if app_key == self._settings.dify_contract_app_key else "order"
        traced = {**inputs, "file": file_url}
        try:
            async with self._tracer.span(f"dify.{app}", "llm", traced) as span:
                span.outputs = data = await self._call(app_key, inputs, file_url, file_type)
        except ApplicationError as error:
            DIFY_CALLS.labels(app, OUTCOMES.get(error.type or "", "error")).inc()
            raise
        except httpx.HTTPError:
            DIFY_CALLS.labels(app, "network").inc()
            raise
        DIFY_CALLS.labels(app, "ok").inc()
        return data

    async def _call(
        self, app_key: str, inputs: dict[str, Any], file_url: str, file_type: str
    ) -> dict[str, Any]:
        file = {"type": file_type, "transfer_method": "remote_url", "url": file_url}
        body = {
            "inputs": {**inputs, "contract_file": file},
            "query": "识别合同并输出 JSON",
            "response_mode": "blocking",
            "conversation_id": "",
            "user": self._settings.dify_user,
            "files": [file],
            "auto_generate_name": False,
        }
        response = await heartbeating(
            self._http.post(
                f"{self._settings.dify_base_url.rstrip('/')}/v1/chat-messages",
                json=body,
                headers={"Authorization": f"Bearer {app_key}"},
                timeout=self._settings.dify_timeout.total_seconds(),
            )
        )
        raise_for_status(response, ErrorType.DIFY_CLIENT_ERROR)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            answer = answer_from_sse(response.text)
        else:
            answer = str(response.json().get("answer", ""))
        try:
            return extract_json(answer)
        except ValueError as error:
            # the answer's start goes into the details: encrypted in history, never in audit rows
            raise ApplicationError(
                str(error), answer[:500], type=ErrorType.DIFY_BAD_ANSWER
            ) from error

    @activity.defn
    async def call_dify_contract(self, input: ContractInput) -> ContractResult:
        """Let the contract app read the PDF into a contract header and lines."""
        inputs = {"customer_id": input.customer_id, "customer_num": input.customer_num}
        data = await self._ask(
            self._settings.dify_contract_app_key, inputs, input.file_url, input.file_type
        )
        if not data.get("ok"):
            return ContractResult(
                ok=False, reason=str(data.get("reason") or "contract not readable")
            )
        try:
            meta = ContractMeta.model_validate(data.get("contract_meta") or {})
            items = [ContractItem.model_validate(i) for i in data.get("items") or []]
        except ValidationError as error:
            raise ApplicationError(
                f"contract answer invalid: {error}", type=ErrorType.DIFY_BAD_ANSWER
            ) from error
        if not items:
            return ContractResult(
                ok=False, reason="the contract has no line items", contract_meta=meta
            )
        warnings = [str(w) for w in data.get("warnings") or []]
        return ContractResult(ok=True, contract_meta=meta, items=items, warnings=warnings)

    @activity.defn
    async def call_dify_order_payload(self, input: OrderPayloadInput) -> OrderPayloadResult:
        """Let the order app turn the contract into an ERP order payload (or block it)."""
        inputs = {
            "customer": json.dumps(input.customer, ensure_ascii=False),
            "contact": json.dumps(input.contact, ensure_ascii=False),
            "contract_meta": input.contract_meta.model_dump_json(),
            "contract_items": json.dumps(
                [i.model_dump(mode="json") for i in input.items], ensure_ascii=False
            ),
            "file_url": input.file_url,
            "message_id": input.message_id,
        }
        data = await self._ask(
            self._settings.dify_order_app_key, inputs, input.file_url, input.file_type
        )
        if not data.get("ok"):
            return OrderPayloadResult(ok=False, reason=str(data.get("reason") or "blocked"))
        try:
            payload = OrderPayload.model_validate(data.get("order_payload") or {})
        except ValidationError as error:
            raise ApplicationError(
                f"order payload invalid: {error}", type=ErrorType.DIFY_BAD_ANSWER
            ) from error
        return OrderPayloadResult(ok=True, order_payload=payload)
