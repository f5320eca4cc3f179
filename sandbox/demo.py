"""Demo masterdata and sample emails, one per outcome (used by `mcs dev --demo` and tests)."""

import base64
import mimetypes
import random
import uuid
from decimal import Decimal
from email.message import EmailMessage

from models.email import EmailAttachment, EmailEvent
from models.masterdata import ContactBase, CustomerBase, MasterdataSet, ProductBase
from sandbox.pdf import Contract, Item, make_contract_pdf, make_pdf

SALES_MAILBOX = "sales@mcs.example"


def demo_masterdata() -> MasterdataSet:
    """Three customers with their buyers, and a few products."""
    customers = [
        CustomerBase(customer_id="C001", customer_num="HD-1001", name="上海华东机械有限公司",
                     aliases=["华东机械", "East China Machinery"]),
        CustomerBase(customer_id="C002", customer_num="YH-2002", name="北京远航科技股份有限公司",
                     aliases=["远航科技"]),
        CustomerBase(customer_id="C003", customer_num="BE-3003",
                     name="Shenzhen Bright Electronics Co., Ltd.", aliases=["深圳明亮电子"]),
    ]  # fmt: skip
    contacts = [
        ContactBase(contact_id="K001", email="buyer@huadong.example", name="Li Lei",
                    customer_id="C001", sales_email="sales.li@mcs.example"),
        ContactBase(contact_id="K002", email="purchasing@yuanhang.example", name="Wang Fang",
                    customer_id="C002", sales_email="sales.wang@mcs.example"),
        ContactBase(contact_id="K003", email="lisa@bright.example", name="Lisa Chen",
                    customer_id="C003"),
    ]  # fmt: skip
    products = [
        ProductBase(product_id="P1", product_code="P-100", name="Hydraulic pump", unit="pcs"),
        ProductBase(product_id="P2", product_code="P-200", name="Valve block", unit="pcs"),
        ProductBase(product_id="P7", product_code="REJECT-7", name="Pump the ERP refuses",
                    unit="pcs"),
    ]  # fmt: skip
    return MasterdataSet(customers=customers, contacts=contacts, products=products)


def contract_pdf(
    contract_no: str, codes: tuple[str, ...] = ("P-100", "P-200"), pad_to: int = 0
) -> bytes:
    """A readable contract PDF with one line per product code."""
    items = [Item(code, f"Product {code}", Decimal(10), "pcs", Decimal("99.50")) for code in codes]
    return make_contract_pdf(Contract(contract_no, "demo customer", items=items), pad_to=pad_to)


def contract_number(marker: str = "") -> str:
    """A contract no. of its own (the order guard finds a contract ordered twice); a `marker`
    such as GUARD-ZERO makes the Dify simulator draft a flawed order (sandbox.dify._flawed)."""
    return f"HT-{marker + '-' if marker else ''}{uuid.uuid4().hex[:8].upper()}"


def unmatched_filename() -> str:
    """A contract file name that matches no customer well, new at each call (an approved
    customer review learns the name it carries, so each test gets its own)."""
    # 8 random CJK characters: in all likelihood no character pair in common with another name
    name = "".join(chr(random.randrange(0x4E00, 0x9FA0)) for _ in range(8))
    return f"合同_{name}公司.pdf"


def make_email(
    sender: str = "buyer@huadong.example",
    subject: str = "采购合同 HT-2026-001",
    filename: str | None = "采购合同_华东机械_20261120.pdf",
    pdf: bytes | None = None,
    message_id: str | None = None,
) -> EmailEvent:
    """An EmailEvent with its PDF inline (bytes_b64), as `POST .../run` takes it."""
    data = pdf if pdf is not None else contract_pdf(contract_number())
    attachments = []
    if filename is not None:
        encoded = base64.b64encode(data).decode()
        attachments.append(
            EmailAttachment(filename=filename, content_type="application/pdf", bytes_b64=encoded)
        )
    return EmailEvent(
        message_id=message_id or f"<{uuid.uuid4()}@demo.mcs>",
        **{"from": sender},
        from_email=sender,
        to=[SALES_MAILBOX],
        subject=subject,
        body_text="请见附件。Please find the contract attached.",
        attachments=attachments,
    )


def with_files(event: EmailEvent, files: list[tuple[str, bytes]]) -> EmailEvent:
    """The email with these attachments (name and bytes) instead of its own."""
    attachments = [
        EmailAttachment(
            filename=name,
            content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            bytes_b64=base64.b64encode(data).decode(),
        )
        for name, data in files
    ]
    return event.model_copy(update={"attachments": attachments})


def demo_emails() -> dict[str, EmailEvent]:
    """One sample email per outcome of the workflow."""
    return {
        "SUCCESS": make_email(),
        "UNKNOWN_CONTACT": make_email(sender="stranger@unknown.example"),
        "IGNORED (no keyword)": make_email(subject="Invoice for October"),
        "IGNORED (no PDF)": make_email(filename=None),
        "MANUAL_REVIEW (low score)": make_email(filename="合同_某某不知名公司.pdf"),
        "MANUAL_REVIEW (mismatch)": make_email(filename="采购合同_远航科技_20261120.pdf"),
        "CONTRACT_PARSE_FAILED": make_email(pdf=make_pdf(["A holiday photo, not a contract"])),
        "ORDER_PAYLOAD_BLOCKED": make_email(pdf=contract_pdf("HT-2026-002", ("BLOCK-9",))),
        "ERP_ORDER_FAILED": make_email(pdf=contract_pdf(contract_number(), ("REJECT-7",))),
        "MANUAL_REVIEW (order)": make_email(
            pdf=contract_pdf(contract_number(), ("P-100", "X-404"))
        ),
    }


def raw_contract_email(
    message_id: str | None = None,
    pdf: bytes | None = None,
    sender: str = "Li Lei <buyer@huadong.example>",
    subject: str = "采购合同 HT-2026-001",
) -> bytes:
    """A raw RFC 822 contract email (as a mailbox holds it, or `mcs submit` reads a .eml)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SALES_MAILBOX
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    message.set_content("见附件")
    message.add_attachment(
        pdf if pdf is not None else contract_pdf(contract_number()),
        maintype="application", subtype="pdf", filename="采购合同_华东机械.pdf",
    )  # fmt: skip
    return message.as_bytes()


def reply_message(message_id: str | None = None) -> bytes:
    """A raw reply of a known buyer without a contract (its run ends IGNORED)."""
    message = EmailMessage()
    message["From"] = "Li Lei <buyer@huadong.example>"
    message["To"] = SALES_MAILBOX
    message["Subject"] = "Re: delivery next week"
    message["Message-ID"] = message_id or f"<{uuid.uuid4()}@huadong.example>"
    message.set_content("Thanks, see you next week.")
    return message.as_bytes()


def contract_message(message_id: str | None = None, pdf: bytes | None = None) -> bytes:
    """A raw contract email of its own contract no. (as a mailbox receives many)."""
    return raw_contract_email(
        message_id, pdf or contract_pdf(contract_number()), subject="采购合同 HT-IMAP"
    )
