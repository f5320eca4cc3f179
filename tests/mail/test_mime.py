"""The MIME parser shared by every intake channel."""

from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage

from mail.mime import parse_message, sniff_content_type
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


def _raw(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


PDF_B64 = __import__("base64").b64encode(contract_pdf("HT-MESSY")).decode()
GB_NAME = Header("采购合同", "gb2312").encode().encode()
GB_FILE = Header("采购合同.pdf", "gb2312").encode().encode()


def test_outlook_shaped_message_with_gbk_body_inline_image_and_rfc2047_name() -> None:
    body = "订单请查收：镕".encode("gbk")  # 镕 is in GBK, not in GB2312
    raw = (
        b"From: =?gb2312?B?wO7A2g==?= <buyer@huadong.example>\r\n"
        b"To: sales@mcs.example\r\nSubject: " + GB_NAME + b"\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b'--outer\r\nContent-Type: multipart/related; boundary="rel"\r\n\r\n'
        b'--rel\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b'--alt\r\nContent-Type: text/plain; charset="gb2312"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        + body + b"\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n--alt--\r\n"
        b"--rel\r\nContent-Type: image/png\r\nContent-ID: <logo1>\r\nContent-Disposition: inline\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--rel--\r\n"
        b'--outer\r\nContent-Type: application/octet-stream; name="' + GB_FILE + b'"\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + PDF_B64.encode() + b"\r\n--outer--\r\n"
    )  # fmt: skip
    parsed = parse_message(raw)
    assert parsed.event.body_text.strip() == "订单请查收：镕"
    assert parsed.event.body_html.strip() == "<p>html</p>"
    assert [a.filename for a in parsed.event.attachments] == ["采购合同.pdf"]  # logo skipped
    assert parsed.event.pdf is not None


def test_gmail_shaped_message_with_rfc2231_filename() -> None:
    raw = _raw(
        "From: buyer@huadong.example\nTo: sales@mcs.example\nSubject: contract\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="g"\n\n'
        '--g\nContent-Type: multipart/alternative; boundary="a"\n\n'
        "--a\nContent-Type: text/plain; charset=UTF-8\n\nsee attached\n--a--\n"
        "--g\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=utf-8''%E9%87%87%E8%B4%AD%E5%90%88%E5%90%8C_v2.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{PDF_B64}\n--g--\n"
    )
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.event.attachments] == ["采购合同_v2.pdf"]
    assert parsed.event.attachments[0].content_type == "application/pdf"


def test_winmail_dat_and_latin1_body_declared_utf8() -> None:
    raw = (
        b"From: buyer@huadong.example\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="w"\r\n\r\n'
        b"--w\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Sch\xf6ne Gr\xfc\xdfe\r\n"
        b'--w\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IgAAAA==\r\n--w--\r\n"
    )  # fmt: skip
    parsed = parse_message(raw)
    assert parsed.event.subject == "Grüße"
    assert parsed.event.body_text.strip() == "Schöne Grüße"
    assert [a.filename for a in parsed.event.attachments] == ["winmail.dat"]
    assert parsed.event.pdf is None


def test_forwarded_message_keeps_the_inner_pdf() -> None:
    inner = _message(contract_pdf("HT-FWD"), name="inner.pdf")
    outer = EmailMessage()
    outer["From"] = "sales.li@mcs.example"
    outer["Subject"] = "Fwd: 采购合同"
    outer.set_content("forwarding")
    outer.add_attachment(message_from_bytes(inner, policy=policy.default))
    parsed = parse_message(outer.as_bytes())
    assert [a.filename for a in parsed.event.attachments if a.is_pdf] == ["inner.pdf"]


def test_attachments_are_typed_by_their_bytes_not_their_names() -> None:
    from mail.filetypes import sniff_content_type
    from sandbox.documents import make_docx, make_png, make_xlsx

    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)
    cases = {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": make_docx(["x"]),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": make_xlsx(["x"]),
        "image/png": make_png(["x"]),
        "image/jpeg": b"\xff\xd8\xff\xe0" + bytes(20),
        "image/tiff": b"II*\x00" + bytes(20),
        "application/msword": ole + "WordDocument".encode("utf-16-le"),
        "application/vnd.ms-excel": ole + "Workbook".encode("utf-16-le"),
    }
    for expected, data in cases.items():
        assert sniff_content_type(data, "application/octet-stream") == expected
    assert sniff_content_type(make_png(["x"]), "application/pdf") == "image/png"  # renamed scan
    assert sniff_content_type(b"PK\x03\x04 not a zip", "image/png") == "application/octet-stream"
    assert sniff_content_type(b"hello", "text/plain") == "text/plain"
