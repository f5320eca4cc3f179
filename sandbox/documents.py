"""Contracts in the other formats MCS reads (DOCX, XLSX, a PNG scan), for the demo and tests.

Each carries the same text lines as a contract PDF (`sandbox.pdf.contract_lines`), where the
Dify simulator finds them: the document's XML, or a text chunk of the image.
"""

import io
import struct
import zipfile
import zlib
from xml.sax.saxutils import escape

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)


def make_docx(lines: list[str]) -> bytes:
    """A minimal Word document with one paragraph per line."""
    paragraphs = "".join(f"<w:p><w:r><w:t>{escape(line)}</w:t></w:r></w:p>" for line in lines)
    document = (
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{paragraphs}</w:body></w:document>"
    )
    return _zip({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": document})


def make_xlsx(lines: list[str]) -> bytes:
    """A minimal workbook whose shared strings are the lines."""
    strings = "".join(f"<si><t>{escape(line)}</t></si>" for line in lines)
    shared = (
        f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{strings}</sst>'
    )
    return _zip(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "xl/workbook.xml": "<workbook/>",
            "xl/sharedStrings.xml": shared,
        }
    )


def make_png(lines: list[str]) -> bytes:
    """A 1x1 PNG "scan" with the lines in a tEXt chunk (what OCR would read off the page)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    text = b"Comment\x00" + "\n".join(lines).encode("latin-1", "replace")
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", text)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def _zip(parts: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()
