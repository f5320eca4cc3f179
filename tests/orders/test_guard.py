"""The order guard's rules, alone (no Temporal, no database)."""

from decimal import Decimal

import pytest

from models.orders import GuardContext, OrderPayload
from orders.guard import check, to_send

CONTEXT = GuardContext(
    customer_id="C001",
    customer_num="HD-1001",
    contact_id="K001",
    contract_total=Decimal("1000"),
    contract_currency="CNY",
)
PRODUCTS = {"P-100", "P-200"}


def draft(**changes: object) -> OrderPayload:
    data: dict[str, object] = {
        "customer_id": "C001",
        "lines": [{"product_code": "P-100", "quantity": "10", "unit_price": "100"}],
    }
    data.update(changes)
    return OrderPayload.model_validate(data)


def codes(payload: OrderPayload, context: GuardContext = CONTEXT) -> list[tuple[str, int | None]]:
    return [(f.code, f.line) for f in check(payload, context, PRODUCTS)]


def test_a_right_draft_has_no_finding() -> None:
    assert codes(draft()) == []


def test_nulls_are_absent_fields() -> None:
    payload = OrderPayload.model_validate(
        {"customer_id": None, "contact_id": None, "remark": None, "currency": None,
         "lines": [{"product_code": "P-100", "quantity": 10, "unit_price": 100, "unit": None}]}
    )  # fmt: skip
    assert payload.contact_id == "" and payload.remark == "" and payload.lines[0].unit == ""
    assert codes(payload) == []  # currency and contact come from the run
    sent = to_send(payload, CONTEXT)
    assert (sent.customer_id, sent.customer_num, sent.contact_id, sent.currency) == (
        "C001", "HD-1001", "K001", "CNY",
    )  # fmt: skip


def test_the_run_customer_is_sent_never_the_draft_one() -> None:
    wrong = draft(customer_id="C002", customer_num="YH-2002")
    assert codes(wrong) == [("ORDER_CUSTOMER_MISMATCH", None)]
    assert codes(draft(customer_num="YH-2002")) == [("ORDER_CUSTOMER_MISMATCH", None)]
    assert to_send(wrong, CONTEXT).customer_id == "C001"


def test_line_rules_and_product_codes_compared_without_case_blanks_or_width() -> None:
    lines = [
        {"product_code": "ｐ－１００", "quantity": "4", "unit_price": "100"},  # full width
        {"product_code": " p-200 ", "quantity": "6", "unit_price": "100"},
        {"product_code": "", "quantity": "0", "unit_price": "-1"},
        {"product_code": "X-1", "quantity": "1", "unit_price": "0"},
    ]
    found = check(draft(lines=lines), CONTEXT, PRODUCTS)
    assert [(f.code, f.line) for f in found] == [
        ("ORDER_LINE_INVALID", 3), ("UNKNOWN_PRODUCT", 4),
    ]  # fmt: skip
    assert "no product code" in found[0].message and "negative" in found[0].message


@pytest.mark.parametrize(
    ("total", "tolerance", "finding"),
    [
        ("1004.99", "0.005", False),  # within 0.5 %
        ("1005.03", "0.005", True),  # 5.03 off, 0.5 % of 1005.03 is 5.025
        ("1000.01", "0", False),  # never less than 0.01
        ("1000.02", "0", True),
    ],
)
def test_the_total_within_its_tolerance(total: str, tolerance: str, finding: bool) -> None:
    context = GuardContext(
        customer_id="C001", contract_total=Decimal(total), contract_currency="CNY",
        tolerance=Decimal(tolerance),
    )  # fmt: skip
    assert (("ORDER_TOTAL_MISMATCH", None) in codes(draft(), context)) is finding


def test_empty_and_currency() -> None:
    assert codes(draft(lines=[])) == [("ORDER_EMPTY", None)]
    assert codes(draft(currency="usd")) == [("CURRENCY_NOT_ALLOWED", None)]
    assert codes(draft(currency="cny")) == []
