"""A corpus of hostile email: what an attacker or a broken mailer sends (for tests and benches)."""

import base64

SENDER = [b"From: Li Lei <buyer@huadong.example>", b"To: sales@mcs.example"]
CONTRACT_SUBJECT = b"Subject: =?utf-8?b?6YeH6LSt5ZCI5ZCM?="  # 采购合同
PLAIN = b"Content-Type: text/plain; charset=utf-8"


def message(headers: list[bytes], body: bytes, sender: list[bytes] = SENDER) -> bytes:
    """A raw message of these header lines (after From and To) and this body."""
    return b"\r\n".join([*sender, *headers]) + b"\r\n\r\n" + body


def multipart(boundary: bytes, parts: list[tuple[list[bytes], bytes]]) -> bytes:
    """The body of a multipart of these (header lines, body) parts."""
    out = b""
    for headers, body in parts:
        out += b"--" + boundary + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def mixed(boundary: bytes) -> list[bytes]:
    return [b"MIME-Version: 1.0", b"Content-Type: multipart/mixed; boundary=" + boundary]


def attachment(name: bytes, content_type: bytes, base64_body: bool = False) -> list[bytes]:
    headers = [b"Content-Type: " + content_type]
    if base64_body:
        headers.append(b"Content-Transfer-Encoding: base64")
    return [*headers, b'Content-Disposition: attachment; filename="' + name + b'"']


def deep_nesting(levels: int = 1000) -> bytes:
    """A multipart nested `levels` deep."""
    opening = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(levels)
    )
    innermost = b"--b%d\r\n%s\r\n\r\nhi\r\n" % (levels, PLAIN)
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(levels + 1)))
    headers = [CONTRACT_SUBJECT, b"Message-ID: <deep@x>", *mixed(b"b0")]
    return message(headers, opening + innermost + closing)


def many_parts(parts: int = 5000) -> bytes:
    """Thousands of tiny attachments."""
    files = [(attachment(b"p%d.bin" % i, b"application/octet-stream"), b"AA") for i in range(parts)]
    return message(
        [b"Subject: many", b"Message-ID: <many@x>", *mixed(b"x")], multipart(b"x", files)
    )


def slow_parameters(parts: int = 100) -> bytes:
    """Parts whose Content-Type carries 30 KB of parameters each: every field is within its
    limit, but the parser's cost grows faster than a field's length (0.15 s of CPU a part)."""
    params = b"; ".join(b"p%d=%s" % (i, b"x" * 20) for i in range(1200))
    files = [
        (attachment(b"a%d.pdf" % i, b"application/pdf; " + params), b"JVBER") for i in range(parts)
    ]
    return message(
        [CONTRACT_SUBJECT, b"Message-ID: <slow@x>", *mixed(b"s")], multipart(b"s", files)
    )


def corpus() -> dict[str, bytes]:
    """Name -> raw message."""
    return {**malformed(), **oversized()}


def malformed() -> dict[str, bytes]:
    """Messages whose headers or parts are not what they claim."""
    fake_pdf = base64.b64encode(b"MZ\x90\x00 not a pdf at all" * 50)
    separators = base64.b64encode("采购合同\u2028\r\nBcc: x@y\u0085".encode())
    return {
        "brackets-only-message-id": message([b"Subject: a", b"Message-ID: <>", PLAIN], b"x"),
        "spaced-message-id": message([b"Subject: a", b"Message-ID: < a b @ c >", PLAIN], b"x"),
        "eight-bit-headers": message(
            [
                b"Subject: \xe9\x87\x87\xff\xfe contract",
                b"Message-ID: <8bit@x>",
                b"Reply-To: \xff\xff <x@y>",
                PLAIN,
            ],
            b"\xff\xfe body",
        ),  # fmt: skip
        "line-separators-in-subject": message(
            [b"Subject: =?utf-8?b?" + separators + b"?=", b"Message-ID: <sep@x>", PLAIN], b"x"
        ),
        "fake-pdf": message(
            [CONTRACT_SUBJECT, b"Message-ID: <fake@x>", *mixed(b"z")],
            multipart(
                b"z",
                [
                    ([b"Content-Type: text/plain"], b"see attached"),
                    (attachment(b"contract.pdf", b"application/pdf", True), fake_pdf),
                ],
            ),
        ),  # fmt: skip
        "no-headers-at-all": b"\r\n\r\njust a body",
        "broken-base64": message(
            [b"Subject: b", b"Message-ID: <b64@x>", *mixed(b"q")],
            multipart(b"q", [(attachment(b"x.pdf", b"application/pdf", True), b"!!!!====")]),
        ),
    }


def oversized() -> dict[str, bytes]:
    """Messages over a limit: depth, parts, body, header and field sizes."""
    return {
        "deep-nesting": deep_nesting(),
        "many-parts": many_parts(),
        "huge-body": message(
            [b"Subject: big", b"Message-ID: <huge@x>", PLAIN], b"A" * (3 * 1024 * 1024)
        ),
        "huge-headers": message(
            [
                b"Subject: " + b"x" * 5000,
                b"From: " + b"Li " * 1000 + b"<buyer@huadong.example>",
                b"To: sales@mcs.example",
                b"Message-ID: <long-headers@x>",
                *mixed(b"h"),
            ],
            multipart(b"h", [(attachment(b"n" * 1000 + b".txt", b"text/plain"), b"a note")]),
        ),  # fmt: skip
        "overlong-address": message(
            [b"Message-ID: <addr@x>", PLAIN], b"x", [b"From: <" + b"a" * 400 + b"@x.example>"]
        ),
        "too-many-recipients": message(
            [
                *SENDER[:1],
                b"To: " + b", ".join(b"r%d@x.example" % n for n in range(1500)),
                b"Message-ID: <rcpt@x>",
                PLAIN,
            ],
            b"x",
        ),  # fmt: skip
        "overlong-message-id": message([b"Message-ID: <" + b"m" * 1200 + b"@x>", PLAIN], b"x"),
        "overlong-header-field": message(
            [b"Message-ID: <field@x>", b"X-Padding: " + b"p" * (40 * 1024), PLAIN], b"x"
        ),
    }
