"""Typing attachments by their bytes, not their names: what a file claims to be is not trusted."""

import io
import zipfile

from models.email import DOCX, PDF_CONTENT_TYPE, READABLE, XLSX

PDF_MAGIC = b"%PDF-"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # DOC and XLS (compound file)
MAGIC = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
]


def sniff_content_type(data: bytes, declared: str) -> str:
    """The content type of an attachment by its bytes. A readable type it claims but its bytes do
    not bear out becomes application/octet-stream; other declared types are kept."""
    found = _by_bytes(data)
    if found:
        return found
    declared = declared.lower()
    if declared in READABLE:
        return "application/octet-stream"
    return declared or "application/octet-stream"


def _by_bytes(data: bytes) -> str:
    if data[:1024].lstrip().startswith(PDF_MAGIC):
        return PDF_CONTENT_TYPE
    for magic, content_type in MAGIC:
        if data.startswith(magic):
            return content_type
    if data.startswith(b"PK\x03\x04"):
        return _office_open_xml(data)
    if data.startswith(OLE2):
        if "WordDocument".encode("utf-16-le") in data:
            return "application/msword"
        if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
            return "application/vnd.ms-excel"
    return ""


def _office_open_xml(data: bytes) -> str:
    """DOCX or XLSX by the parts the zip holds (any other zip is not a contract)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError):
        return ""  # not a zip we can read (multi-disk, an unknown compression, ...): no contract
    if "[Content_Types].xml" not in names:
        return ""
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return ""
