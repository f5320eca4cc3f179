"""The email contract: what every intake channel hands to the sales-email workflow."""

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

MAX_BODY_CHARS = 256 * 1024  # a longer text body is cut (the whole message stays in the store)
MAX_LINE = 998  # RFC 5322: a longer subject or sender name is cut, a longer Message-ID refused
MAX_NAME = 255  # a file name, media type or mailbox name; a longer file name or type is cut
MAX_ADDRESS = 320  # 64 for the local part, @, 255 for the domain
MAX_RECIPIENTS = 1000
Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]
Address = Annotated[str, StringConstraints(max_length=MAX_ADDRESS)]
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
PDF_CONTENT_TYPE = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The contract files MCS can hand to Dify: content type (typed by the bytes at intake) -> the
# file type Dify expects and the extension of its signed URL.
READABLE: dict[str, tuple[str, str]] = {
    PDF_CONTENT_TYPE: ("document", "pdf"),
    DOCX: ("document", "docx"),
    XLSX: ("document", "xlsx"),
    "application/msword": ("document", "doc"),
    "application/vnd.ms-excel": ("document", "xls"),
    "image/jpeg": ("image", "jpg"),
    "image/png": ("image", "png"),
    "image/tiff": ("image", "tiff"),
}


def one_line(text: str) -> str:
    """A header value as one line: no line breaks or control characters (no header injection)."""
    return _CONTROLS.sub(" ", text).strip()


def cut_body(text: str) -> str:
    """A text body short enough for a workflow's input."""
    if len(text) <= MAX_BODY_CHARS:
        return text
    return text[:MAX_BODY_CHARS] + f"\n[... {len(text) - MAX_BODY_CHARS} more characters cut]"


def nulls_dropped(data: Any) -> Any:
    """JSON `null` for an optional field means "not given": its default applies."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if v is not None}
    return data


class EmailAttachment(BaseModel):
    """One attachment; inside the workflow only the reference fields are set (claim check)."""

    model_config = ConfigDict(extra="forbid")

    _nulls = model_validator(mode="before")(nulls_dropped)

    attachment_id: Name = ""
    filename: str
    content_type: str = "application/octet-stream"
    size: int = Field(default=0, ge=0)
    sha256: str = Field(default="", pattern=r"^([0-9a-fA-F]{64})?$")
    bytes_b64: str | None = None
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None

    @field_validator("filename", "content_type")
    @classmethod
    def _short(cls, value: str) -> str:
        return one_line(value)[:MAX_NAME]

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @property
    def is_pdf(self) -> bool:
        """True when the attachment was typed as a PDF (by its bytes at intake)."""
        return self.content_type == PDF_CONTENT_TYPE

    @property
    def readable(self) -> bool:
        """True for a file type Dify can read a contract from (a document or an image)."""
        return self.content_type in READABLE


class EmailEvent(BaseModel):
    """An inbound email as MCS sees it, whatever channel brought it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    provider: Name = "api"
    account: Name = ""
    folder: Name = ""
    uid: Name = ""
    message_id: Annotated[str, StringConstraints(max_length=MAX_LINE)] = ""
    from_: str = Field(default="", alias="from")
    from_email: Address
    to: list[Address] = Field(default=[], max_length=MAX_RECIPIENTS)
    cc: list[Address] = Field(default=[], max_length=MAX_RECIPIENTS)
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    received_at: datetime | None = None
    attachments: list[EmailAttachment] = []
    # what our mail servers found of the sender (Authentication-Results headers, topmost first)
    auth_results: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default=[], max_length=20
    )
    # what is wrong with the From: ("": nothing), found by the intake: the run is reviewed
    sender_problem: Annotated[str, StringConstraints(max_length=300)] = ""

    _nulls = model_validator(mode="before")(nulls_dropped)

    @field_validator("from_email")
    @classmethod
    def _normalise_email(cls, value: str) -> str:
        return one_line(value).lower()

    @field_validator("message_id")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return one_line(value)

    @field_validator("subject", "from_")
    @classmethod
    def _cut_line(cls, value: str) -> str:
        return one_line(value)[:MAX_LINE]

    @field_validator("body_text", "body_html")
    @classmethod
    def _cut(cls, value: str) -> str:
        return cut_body(value)

    @property
    def pdf(self) -> EmailAttachment | None:
        """The first PDF attachment, the contract candidate."""
        return next((a for a in self.attachments if a.is_pdf), None)

    def without_bytes(self) -> "EmailEvent":
        """A copy that carries attachments by reference only."""
        refs = [a.model_copy(update={"bytes_b64": None, "url": None}) for a in self.attachments]
        return self.model_copy(update={"attachments": refs})


def sha256_hex(data: bytes | str) -> str:
    """Hex sha256 of bytes or of a UTF-8 string."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def normalise_message_id(message_id: str) -> str:
    """Message-IDs compare without angle brackets, blanks or case."""
    return message_id.strip().strip("<>").strip().lower()


def workflow_id_for(message_id: str) -> str:
    """The deterministic workflow id of an email (DESIGN: sales-email- + 32 hex chars)."""
    return "sales-email-" + sha256_hex(normalise_message_id(message_id))[:32]


def idempotency_key(message_id: str, pdf_sha256: str) -> str:
    """sha256(message_id | pdf sha256): the key of one order, also sent to the ERP."""
    return sha256_hex(f"{normalise_message_id(message_id)}|{pdf_sha256}")
