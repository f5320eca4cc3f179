"""Small, valid contract PDFs for the demo and the tests (text the Dify simulator can read)."""

import os
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Item:
    product_code: str
    product_name: str
    quantity: Decimal
    unit: str
    unit_price: Decimal


@dataclass(frozen=True)
class Contract:
    contract_no: str
    customer_name: str
    currency: str = "CNY"
    sign_date: str = "2026-11-20"
    items: list[Item] = field(default_factory=list)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def contract_lines(contract: Contract) -> list[str]:
    """The text lines of a contract PDF, in the format the Dify simulator reads."""
    lines = [
        "PURCHASE CONTRACT",
        f"CONTRACT-NO: {contract.contract_no}",
        f"CUSTOMER: {contract.customer_name}",
        f"SIGN-DATE: {contract.sign_date}",
        f"CURRENCY: {contract.currency}",
    ]
    for item in contract.items:
        lines.append(
            f"ITEM: {item.product_code}; {item.product_name}; {item.quantity}; "
            f"{item.unit}; {item.unit_price}"
        )
    return lines


def make_pdf(lines: list[str], pad_to: int = 0) -> bytes:
    """A one-page PDF showing `lines` in Helvetica, padded by a binary stream to `pad_to` bytes."""
    text = "".join(f"({_escape(line)}) Tj T* " for line in lines)
    content = f"BT /F1 11 Tf 14 TL 50 780 Td {text}ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    if pad_to:
        filler = os.urandom(max(0, pad_to - 1200))
        objects.append(b"<< /Length %d >>\nstream\n" % len(filler) + filler + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_contract_pdf(contract: Contract, pad_to: int = 0) -> bytes:
    """A contract PDF for `contract`."""
    return make_pdf(contract_lines(contract), pad_to=pad_to)
