"""An ERP order gateway simulator: stores orders and honours `Idempotency-Key` (unless told to
ignore it, as many ERPs do), finds orders by that key, and can lose answers after committing."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from sandbox.faults import FaultState, fault_router

ORDER_BOOK = "erp-orders.jsonl"  # under MCS_DATA_DIR, for `mcs dev` and `mcs sandbox erp`


def erp_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "code": code, "message": message}, status_code=status)


def _validate(body: dict[str, Any]) -> str | None:
    payload = body.get("order_payload")
    if not isinstance(payload, dict):
        return "order_payload is required"
    if not payload.get("customer_id"):
        return "order_payload.customer_id is required"
    lines = payload.get("lines")
    if not isinstance(lines, list) or not lines:
        return "order_payload.lines must not be empty"
    rejected = [str(line.get("product_code")) for line in lines if not line.get("product_code")]
    return f"lines without product_code: {rejected}" if rejected else None


class OrderBook:
    """Orders by idempotency key, optionally kept across restarts in a JSON-lines file.

    Each order is one appended line, so storing an order costs the same however many there are
    (rewriting one JSON document per order made a long benchmark quadratic). A JSON document
    written by earlier versions next to it (same name, `.json`) is read first.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self.orders: dict[str, dict[str, Any]] = {}
        if path is None:
            return
        legacy = path.with_suffix(".json")
        if legacy.exists():
            self.orders.update(json.loads(legacy.read_text()))
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.orders[entry["key"]] = entry["order"]

    def add(self, key: str, order: dict[str, Any]) -> None:
        self.orders[key] = order
        if self._path:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as book:
                book.write(json.dumps({"key": key, "order": order}, ensure_ascii=False) + "\n")


def create_app(api_key: str, state_file: Path | None = None) -> FastAPI:
    """The simulator app."""
    app = FastAPI(title="ERP gateway simulator")
    state = FaultState()
    book = OrderBook(state_file)
    app.state.faults = state
    app.state.book = book
    app.include_router(fault_router(state))

    @app.post("/v1/orders", response_model=None)
    async def create_order(request: Request) -> Response:
        """Create a sales order; a repeated Idempotency-Key returns the first order."""
        if request.headers.get("authorization", "") != f"Bearer {api_key}":
            return erp_error(401, "UNAUTHORIZED", "invalid API key")
        key = request.headers.get("idempotency-key", "")
        if not key:
            return erp_error(400, "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key header is required")
        if status := await state.failure():
            return erp_error(status, "UNAVAILABLE", f"injected failure {status}")
        if key in book.orders and not state.faults.ignore_idempotency:
            return JSONResponse(_answer(book.orders[key]), status_code=200)
        body = await request.json()
        if problem := _validate(body):
            return erp_error(422, "INVALID_ORDER", problem)
        codes = [str(line.get("product_code")) for line in body["order_payload"]["lines"]]
        if unknown := [c for c in codes if c.startswith("REJECT")]:
            return erp_error(422, "UNKNOWN_PRODUCT", f"unknown products: {', '.join(unknown)}")
        number = f"SO-{len(book.orders) + 1:06d}"
        order = {
            "sales_order_no": number,
            "order_url": f"{str(request.base_url).rstrip('/')}/orders/{number}",
            "order_payload": body["order_payload"],
            "audit": body.get("audit", {}),
        }
        book.add(key if key not in book.orders else f"{key}#{len(book.orders) + 1}", order)
        if state.drop_after_commit():
            return _dropped()
        return JSONResponse(_answer(order), status_code=201)

    @app.get("/v1/orders", response_model=None)
    def list_orders(idempotency_key: str | None = None) -> Any:
        """Every stored order (for tests and the demo); with `idempotency_key`, the orders
        created under that key: `{"orders": [{"sales_order_no", "order_url"}]}`."""
        if idempotency_key is None:
            return list(book.orders.values())
        found = [_answer(o) for o in book.orders.values() if _key(o) == idempotency_key]
        return {"orders": [{k: o[k] for k in ("sales_order_no", "order_url")} for o in found]}

    return app


def _key(order: dict[str, Any]) -> str:
    audit = order.get("audit") or {}
    return str(audit.get("idempotency_key", ""))


def _dropped() -> Response:
    """An answer that never arrives whole: the headers promise a body the connection loses."""

    async def cut() -> AsyncIterator[bytes]:
        yield b'{"ok": tr'
        raise ConnectionAbortedError("the simulator drops the connection after committing")

    return StreamingResponse(cut(), media_type="application/json", headers={"content-length": "99"})


def _answer(order: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "sales_order_no": order["sales_order_no"], "order_url": order["order_url"]}
