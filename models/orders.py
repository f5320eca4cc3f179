"""The order a run drafts and sends: lines, payload, and the guard's findings about it.

LLM answers leave optional fields as JSON `null`; every optional field takes `null` as absent, so
a draft is judged by the order guard's findings, not refused for its JSON shape.
"""

import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from models.email import nulls_dropped


class Lenient(BaseModel):
    """A model that reads `null` as "not given" (its default applies)."""

    model_config = ConfigDict(extra="allow")

    _nulls = model_validator(mode="before")(nulls_dropped)


class OrderLine(Lenient):
    """A line as drafted (other fields are kept to be reported, never sent)."""

    product_code: str = ""
    quantity: Decimal = Decimal(0)
    unit: str = ""
    unit_price: Decimal | None = None
    customer_ref: str = ""  # what the contract said, when a customer's reference resolved it


class OrderPayload(Lenient):
    """An order as drafted (other fields are kept to be reported, never sent)."""

    customer_id: str = ""
    customer_num: str = ""
    contact_id: str = ""
    contract_no: str = ""
    currency: str = ""
    lines: list[OrderLine] = []
    remark: str = ""


# The fields of an order and of its lines, as the ERP contract names them: all that is sent.
ORDER_FIELDS = tuple(OrderPayload.model_fields)
LINE_FIELDS = tuple(OrderLine.model_fields)


@dataclass(frozen=True, kw_only=True)
class GuardContext:
    """What a draft is checked against: the run's customer and contact, the contract as read,
    and the settings (`tolerance`: a share of the total, at least 0.01; allowed `currencies`)."""

    customer_id: str
    customer_num: str = ""
    contact_id: str = ""
    contract_total: Decimal | None = None
    contract_currency: str = ""
    tolerance: Decimal = Decimal("0.005")
    currencies: list[str] = field(default_factory=lambda: ["CNY"])


class FindingCode(StrEnum):
    ORDER_CUSTOMER_MISMATCH = "ORDER_CUSTOMER_MISMATCH"
    ORDER_EMPTY = "ORDER_EMPTY"
    ORDER_LINE_INVALID = "ORDER_LINE_INVALID"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    ORDER_TOTAL_MISMATCH = "ORDER_TOTAL_MISMATCH"
    CURRENCY_NOT_ALLOWED = "CURRENCY_NOT_ALLOWED"
    DUPLICATE_CONTRACT = "DUPLICATE_CONTRACT"


class Finding(BaseModel):
    """Why a draft may not go to the ERP as it is; `line` counts from 1."""

    code: FindingCode
    message: str
    line: int | None = None


def product_key(code: str) -> str:
    """A product code as compared: half-width, upper case, without blanks."""
    return "".join(unicodedata.normalize("NFKC", code).upper().split())
