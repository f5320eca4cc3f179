"""The MIME parser shared by every intake channel."""

from email.header import Header
from email.message import EmailMessage

from activities.mime import parse_message, sniff_content_type
from sandbox.demo import contract_pdf


def _message(pdf: bytes, name: str = "合同.pdf", message_id: str | None = "<a@b>") -> bytes:
    message = EmailMessage()
    message["From"] = "=?utf-8?b?5p2O6Zu3?= <Buyer@Huadong.Example>"
    message["To"] = "sales@mcs.example, other@mcs.example"
    message["Subject"] = Header("采购合同", "gb2312").encode()
    if message_id:
        message["Message-ID"] = message_id
    message.set_content("正文", charset="gb18030")
    message.add_alternative("<p>正文</p>", subtype="html")
    message.add_attachment(pdf, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


def test_parses_headers_bodies_and_types_attachments_by_content() -> None:
    parsed = parse_message(_message(contract_pdf("HT-1")))
    event = parsed.event
    assert event.from_email == "buyer@huadong.example"
    assert event.subject == "采购合同"
    assert event.to == ["sales@mcs.example", "other@mcs.example"]
    assert event.body_text.strip() == "正文" and "<p>" in event.body_html
    assert [a.filename for a in event.attachments] == ["合同.pdf"]
    assert event.attachments[0].content_type == "application/pdf"  # sent as octet-stream
    assert parsed.payloads[0].startswith(b"%PDF-")


def test_a_pdf_name_on_other_bytes_is_not_a_pdf() -> None:
    parsed = parse_message(_message(b"PK\x03\x04 zip bytes", name="contract.pdf"))
    assert parsed.event.attachments[0].content_type == "application/octet-stream"
    assert parsed.event.pdf is None
    assert sniff_content_type(b"GIF89a", "image/gif") == "image/gif"


def test_missing_message_id_gets_a_stable_one() -> None:
    raw = _message(contract_pdf("HT-2"), message_id=None)
    first, second = parse_message(raw).event.message_id, parse_message(raw).event.message_id
    assert first == second and first.endswith("@mcs.generated>")
