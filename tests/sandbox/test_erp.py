"""The ERP simulator's order book across restarts."""

import json
from pathlib import Path

from fastapi.testclient import TestClient

from sandbox.erp import OrderBook, create_app

ORDER = {
    "order_payload": {
        "customer_id": "C001",
        "customer_num": "CN001",
        "contact_id": "P001",
        "contract_no": "HT-1",
        "currency": "CNY",
        "lines": [{"product_code": "P-1", "quantity": 1, "unit": "pcs", "unit_price": "9.50"}],
    },
    "audit": {"message_id": "<m@x>", "workflow_id": "wf"},
}


def _create(client: TestClient, key: str) -> tuple[int, str]:
    headers = {"Authorization": "Bearer k", "Idempotency-Key": key}
    response = client.post("/v1/orders", json=ORDER, headers=headers)
    return response.status_code, response.json()["sales_order_no"]


def test_orders_survive_a_restart_one_line_each(tmp_path: Path) -> None:
    book = tmp_path / "erp-orders.jsonl"
    with TestClient(create_app("k", book)) as client:
        assert _create(client, "a") == (201, "SO-000001")
        assert _create(client, "b") == (201, "SO-000002")
    assert len(book.read_text().splitlines()) == 2

    with TestClient(create_app("k", book)) as client:
        assert _create(client, "a") == (200, "SO-000001")  # same key after a restart: same order
        assert _create(client, "c") == (201, "SO-000003")  # numbering goes on


def test_orders_of_the_earlier_json_document_are_kept(tmp_path: Path) -> None:
    legacy = {"old": {"sales_order_no": "SO-000001", "order_url": "u", "order_payload": {}}}
    (tmp_path / "erp-orders.json").write_text(json.dumps(legacy))
    book = OrderBook(tmp_path / "erp-orders.jsonl")
    assert book.orders["old"]["sales_order_no"] == "SO-000001"
    book.add("new", {"sales_order_no": "SO-000002"})
    assert set(OrderBook(tmp_path / "erp-orders.jsonl").orders) == {"old", "new"}
