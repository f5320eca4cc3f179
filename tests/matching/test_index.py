"""Name normalisation and the customer index."""

import pytest

from matching.index import CustomerIndex, normalise_filename, normalise_name
from models.masterdata import Customer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("上海华东机械有限公司", "上海华东机械"),
        ("北京远航科技股份有限公司", "北京远航科技"),
        ("（上海）华东机械集团", "上海 华东机械"),
        ("ＡＣＭＥ　Ｔｒａｄｉｎｇ", "acme trading"),
        ("Shenzhen Bright Electronics Co., Ltd.", "shenzhen bright electronics"),
        ("Acme Inc.", "acme"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("采购合同_华东机械_20261120.pdf", "华东机械"),
        ("合同-远航科技-2026-11-20-v2.PDF", "远航科技"),
        ("Bright Electronics purchase order final.pdf", "bright electronics"),
    ],
)
def test_normalise_filename(filename: str, expected: str) -> None:
    assert normalise_filename(filename) == expected


CUSTOMERS = [
    Customer(
        customer_id="C1", customer_num="HD-1001", name="上海华东机械有限公司", aliases=["华东机械"]
    ),
    Customer(customer_id="C2", customer_num="YH-2002", name="北京远航科技股份有限公司", aliases=[]),
    Customer(
        customer_id="C3", customer_num="BE-3003", name="Bright Electronics Co., Ltd.", aliases=[]
    ),
]


def test_index_ranks_the_named_customer_first() -> None:
    candidates = CustomerIndex(CUSTOMERS).match("采购合同_远航科技_20261120.pdf")
    assert candidates[0].customer_id == "C2" and candidates[0].score >= 85
    assert len(candidates) <= 3


def test_customer_number_in_the_file_name_is_a_sure_match() -> None:
    candidates = CustomerIndex(CUSTOMERS).match("PO_BE-3003_2026.pdf")
    assert candidates[0].customer_id == "C3" and candidates[0].score == 100


def test_unrelated_name_scores_low() -> None:
    candidates = CustomerIndex(CUSTOMERS).match("合同_某某不知名公司.pdf")
    assert not candidates or candidates[0].score < 85
