"""The content-addressed blob store, signed file URLs for Dify, and the `upload_pdf` step."""

import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.results import UploadInput, UploadResult
from settings import Settings

SHA256_HEX_LEN = 64


class BlobStore:
    """Bytes stored once under their sha256; writes are atomic, so readers never see half a file."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != SHA256_HEX_LEN or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
        return self._root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
        return digest

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


def _signature(file_id: str, expires: int, secret: str) -> str:
    message = f"{file_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_file_url(base_url: str, file_id: str, secret: str, ttl_seconds: float) -> str:
    """A URL of our API that serves the file until it expires, with no API key needed."""
    expires = int(time.time() + ttl_seconds)
    query = urlencode({"expires": expires, "signature": _signature(file_id, expires, secret)})
    return f"{base_url.rstrip('/')}/files/{file_id}?{query}"


def verify_file_signature(file_id: str, expires: int, signature: str, secret: str) -> bool:
    """True when the signature matches and the URL has not expired."""
    if expires < time.time():
        return False
    return hmac.compare_digest(_signature(file_id, expires, secret), signature)


class FileActivities:
    """Publishes stored PDFs to Dify through signed, expiring URLs of our API."""

    def __init__(self, store: BlobStore, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    @activity.defn
    def upload_pdf(self, input: UploadInput) -> UploadResult:
        """Check the PDF is in the blob store and hand out its signed URL."""
        if not self._store.exists(input.sha256):
            raise ApplicationError(
                f"attachment {input.sha256[:12]} is not in the blob store",
                type="FileUploadFailed",
                non_retryable=True,
            )
        file_id = f"{input.sha256}.pdf"
        url = sign_file_url(
            self._settings.api_url,
            file_id,
            self._settings.file_url_secret,
            self._settings.file_url_ttl.total_seconds(),
        )
        return UploadResult(file_id=file_id, file_url=url)
