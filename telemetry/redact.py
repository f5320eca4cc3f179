"""Keeping personal data and secrets out of logs and audit rows: email addresses, phone numbers,
API keys and the signatures of signed file URLs are masked wherever text is written."""

import logging
import re

# Linear on any input: a match may only start where a run of address characters starts (the
# look-behind), and the runs are taken whole (possessive): 64 KB of `a.` took 4.6 s before.
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*+@([A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*+)"
)
TLD = re.compile(r"\.[A-Za-z]{2,}$")
PHONE = re.compile(r"(?<![\w.:/=-])\+?\(?\d[\d ()-]{8,30}\d(?![\w.:/-])")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SIGNATURE = re.compile(r"(signature=)[^&\s\"']+")
REVIEW_TOKEN = re.compile(r"(/review/)[A-Za-z0-9_-]+\.[0-9a-f]{64}")  # a personal review link
INPUT_VALUE = re.compile(r"(input_value=).*?(?=, input_type=|\n|$)")  # pydantic's echo
SECRET = re.compile(r"(?i)\b(bearer\s+|x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with addresses as a***@domain, phone numbers, URL signatures, bearer tokens, the
    input values pydantic echoes in its errors and the given secrets as ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = SIGNATURE.sub(r"\1***", text)
    text = REVIEW_TOKEN.sub(r"\1***", text)
    text = INPUT_VALUE.sub(r"\1***", text)
    text = SECRET.sub(r"\1***", text)
    if "@" in text:
        text = EMAIL.sub(_email, text)
    return PHONE.sub(_phone, text)


def _email(found: re.Match[str]) -> str:
    """An address (its domain ends in a name of two letters or more) as a***@domain."""
    first, domain = found.group(1), found.group(2)
    if not TLD.search(domain):
        return found.group()
    return f"{first}***@{domain}"


def _phone(found: re.Match[str]) -> str:
    """A phone number has 10 to 15 digits and is not a date."""
    digits = sum(c.isdigit() for c in found.group())
    return "***" if 10 <= digits <= 15 and not DATE.search(found.group()) else found.group()


class RedactingFilter(logging.Filter):
    """Redacts every record's message (its arguments merged in) before any handler writes it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
