"""A Dify simulator: `/v1/chat-messages` in blocking mode, reading the contract file (a PDF, a
DOCX or XLSX document, or a PNG scan) from its remote URL."""

import contextlib
import functools
import html
import io
import json
import re
import struct
import zipfile
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from activities._transport import UVICORN_CLIENT_KEEPALIVE, AiohttpTransport
from mail.filetypes import sniff_content_type
from models.email import DOCX, PDF_CONTENT_TYPE, READABLE, XLSX
from sandbox.faults import FaultState, fault_router

_FIELD = re.compile(r"^([A-Z-]+):\s*(.*)$")


def dify_error(status: int, code: str, message: str) -> JSONResponse:
    """Dify's error envelope."""
    return JSONResponse({"code": code, "message": message, "status": status}, status_code=status)


def parse_contract_text(text: str) -> dict[str, Any]:
    """The contract answer for the text of a PDF written by `sandbox.pdf`."""
    fields: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    for line in text.splitlines():
        found = _FIELD.match(line.strip())
        if not found:
            continue
        key, value = found.groups()
        if key == "ITEM":
            items.append(_item(value))
        else:
            fields[key] = value.strip()
    if "CONTRACT-NO" not in fields:
        return {"ok": False, "reason": "no purchase contract found in the document"}
    total = sum((Decimal(i["amount"]) for i in items), Decimal(0))
    meta = {
        "contract_no": fields["CONTRACT-NO"],
        "customer_name": fields.get("CUSTOMER", ""),
        "sign_date": fields.get("SIGN-DATE", ""),
        "currency": fields.get("CURRENCY", ""),
        "total_amount": str(total),
    }
    return {"ok": True, "contract_meta": meta, "items": items, "warnings": []}


def _item(value: str) -> dict[str, Any]:
    parts = [p.strip() for p in value.split(";")]
    code, name, quantity, unit, price = (parts + [""] * 5)[:5]
    try:
        amount = str(Decimal(quantity) * Decimal(price))
    except InvalidOperation:
        amount = "0"
    return {
        "product_code": code,
        "product_name": name,
        "quantity": quantity,
        "unit": unit,
        "unit_price": price,
        "amount": amount,
    }


def order_answer(inputs: dict[str, Any]) -> dict[str, Any]:
    """The order app: build the ERP payload, or block it for a product marked BLOCK."""
    customer = json.loads(inputs.get("customer") or "{}")
    contact = json.loads(inputs.get("contact") or "{}")
    meta = json.loads(inputs.get("contract_meta") or "{}")
    items = json.loads(inputs.get("contract_items") or "[]")
    blocked = [
        i["product_code"] for i in items if str(i.get("product_code", "")).startswith("BLOCK")
    ]
    if blocked:
        return {"ok": False, "reason": f"products not orderable: {', '.join(blocked)}"}
    lines = [
        {k: i.get(k) for k in ("product_code", "quantity", "unit", "unit_price")} for i in items
    ]
    payload = {
        "customer_id": customer.get("customer_id", ""),
        "customer_num": customer.get("customer_num", ""),
        "contact_id": contact.get("contact_id", ""),
        "contract_no": meta.get("contract_no", ""),
        "currency": meta.get("currency", ""),
        "lines": lines,
        "remark": f"from email {inputs.get('message_id', '')}",
    }
    return {"ok": True, "order_payload": _flawed(payload, str(meta.get("contract_no", "")))}


def _flawed(payload: dict[str, Any], contract_no: str) -> dict[str, Any]:
    """The draft a model gets wrong, on demand: a marker in the contract no. says how."""
    lines: list[dict[str, Any]] = payload["lines"]
    if "GUARD-CUSTOMER" in contract_no:
        payload.update(customer_id="C002", customer_num="YH-2002")
    if "GUARD-EMPTY" in contract_no:
        payload["lines"] = []
    if "GUARD-ZERO" in contract_no and lines:
        lines[0]["quantity"] = "0"
    if "GUARD-TOTAL" in contract_no and lines:
        lines[0]["unit_price"] = str(Decimal(str(lines[0]["unit_price"])) * 2)
    if "GUARD-NULLS" in contract_no:
        payload.update(contact_id=None, remark=None, customer_num=None)
    if "GUARD-EXTRA" in contract_no and lines:  # what a contract's text might talk a model into
        payload.update(bill_to_customer_id="C002", payment_terms="net 720")
        lines[0].update(customer_id="C002", discount_pct="99")
    if "GUARD-HUGE" in contract_no and lines:
        lines[0]["quantity"] = "1E+999999999"
    return payload


def _as_answer(data: dict[str, Any]) -> str:
    """Answer the way real models do: reasoning first, then fenced JSON."""
    return (
        f"<think>reading the document</think>\n```json\n{json.dumps(data, ensure_ascii=False)}\n```"
    )


async def _read_file(client: httpx.AsyncClient, url: str, file_type: str) -> str:
    """The text of the contract file at `url`, as Dify's extractor (or its OCR) reads it."""
    response = await client.get(url)
    if response.status_code != 200:
        raise ValueError(f"file download failed: HTTP {response.status_code}")
    content = response.content
    content_type = sniff_content_type(content, "")
    kind = READABLE.get(content_type, ("", ""))[0]
    if kind != file_type:
        raise ValueError(f"File validation failed: {content_type} is not of type {file_type}")
    if content_type == PDF_CONTENT_TYPE:
        return _pdf_text(content)
    if content_type in (DOCX, XLSX):
        return _office_text(content, content_type)
    if content_type == "image/png":
        return _png_text(content)
    return ""  # a scan without text: nothing to read


def _office_text(content: bytes, content_type: str) -> str:
    part, tag = (
        ("word/document.xml", "w:t") if content_type == DOCX else ("xl/sharedStrings.xml", "t")
    )
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        xml = archive.read(part).decode("utf-8")
    return "\n".join(html.unescape(t) for t in re.findall(rf"<{tag}>(.*?)</{tag}>", xml))


def _png_text(content: bytes) -> str:
    """The text chunks of a PNG."""
    texts, position = [], 8
    while position + 8 <= len(content):
        length, kind = struct.unpack(">I4s", content[position : position + 8])
        data = content[position + 8 : position + 8 + length]
        if kind == b"tEXt":
            texts.append(data.partition(b"\x00")[2].decode("latin-1"))
        position += 12 + length
    return "\n".join(texts)


@functools.lru_cache(maxsize=256)
def _pdf_text(content: bytes) -> str:
    """The text of a PDF (cached: the simulator should not dominate a benchmark's CPU)."""
    try:
        reader = PdfReader(io.BytesIO(content))
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except PdfReadError as error:
        raise ValueError(f"not a readable PDF: {error}") from error


def create_app(contract_key: str, order_key: str) -> FastAPI:
    """The simulator app for the two MCS chatflows."""
    # MCS's transport: a fraction of httpx's CPU per download (the simulator shares the host with
    # MCS in the benches), idle connections dropped before the API's uvicorn drops them
    transport = AiohttpTransport(keepalive=UVICORN_CLIENT_KEEPALIVE)
    http = httpx.AsyncClient(timeout=30, transport=transport)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await http.aclose()

    app = FastAPI(title="Dify simulator", lifespan=lifespan)
    state = FaultState()
    app.state.faults = state
    app.include_router(fault_router(state))

    @app.post("/v1/chat-messages")
    async def chat_messages(request: Request) -> JSONResponse:
        """Blocking chat-messages for the contract and the order app."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return dify_error(401, "unauthorized", "Authorization header must start with 'Bearer'")
        key = auth.removeprefix("Bearer ").strip()
        if key not in {contract_key, order_key}:
            return dify_error(401, "unauthorized", "Access token is invalid")
        body = await request.json()
        if not body.get("user"):
            return dify_error(400, "invalid_param", "Arg user must be provided.")
        if status := await state.failure():
            return dify_error(status, "internal_server_error", f"injected failure {status}")
        if bad := state.take_bad_answer():
            return _message("" if bad == "empty" else "Sorry, I could not read the file.")
        inputs = body.get("inputs") or {}
        if key == order_key:
            return _message(_as_answer(order_answer(inputs)))
        file = inputs.get("contract_file") or {}
        url = file.get("url", "")
        if not url:
            return dify_error(400, "invalid_param", "Invalid file url")
        try:
            text = await _read_file(http, url, str(file.get("type", "document")))
        except ValueError as error:
            return dify_error(400, "invalid_param", str(error))
        return _message(_as_answer(parse_contract_text(text)))

    return app


def _message(answer: str) -> JSONResponse:
    return JSONResponse(
        {
            "event": "message",
            "mode": "advanced-chat",
            "answer": answer,
            "conversation_id": "",
            "metadata": {"usage": {"total_tokens": len(answer)}},
        }
    )
