"""The content-addressed blob store: attachments and raw mails, stored once under their sha256.

One interface, two homes: the local filesystem (the default, for the embedded stack and a single
machine) or any S3-compatible store (`MCS_BLOB_URL=s3://bucket/prefix`; endpoint, region and
credentials from the standard AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY), which the API and every worker share wherever they run.
"""

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SHA256_HEX_LEN = 64


def checked(sha256: str) -> str:
    if len(sha256) != SHA256_HEX_LEN or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
    return sha256


class Blobs(ABC):
    """Bytes stored once under their sha256; a reader never sees half an object."""

    remote = False  # True: every call is network I/O (never on the event loop)

    @abstractmethod
    def put(self, data: bytes) -> str:
        """Store `data`; its sha256."""

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def read(self, sha256: str) -> bytes:
        """The bytes; FileNotFoundError when there are none."""

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the bytes (nothing happens for bytes that are not there)."""

    @abstractmethod
    def written(self, sha256: str) -> float | None:
        """When the bytes were last stored (a put of bytes already there counts), as a Unix
        time; None when there are none."""

    def local_path(self, sha256: str) -> Path | None:
        """Where the bytes lie on this machine's disk, for a store that has one."""
        return None


class BlobStore(Blobs):
    """Blobs on the local filesystem; writes are atomic (a temporary file renamed)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def path(self, sha256: str) -> Path:
        return self._root / checked(sha256)[:2] / sha256

    def local_path(self, sha256: str) -> Path | None:
        return self.path(sha256)

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            os.utime(target)  # stored again: young again, for the retention
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

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def written(self, sha256: str) -> float | None:
        try:
            return self.path(sha256).stat().st_mtime
        except FileNotFoundError:
            return None


class S3Blobs(Blobs):
    """Blobs in an S3 bucket under `prefix/ab/abcd...` (boto3; an object is whole or absent)."""

    remote = True

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        import boto3  # only a deployment on S3 pays for the import

        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._s3 = client or boto3.client("s3")

    def _key(self, sha256: str) -> str:
        name = f"{checked(sha256)[:2]}/{sha256}"
        return f"{self._prefix}/{name}" if self._prefix else name

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._s3.put_object(Bucket=self._bucket, Key=self._key(digest), Body=data)
        return digest

    def _head(self, sha256: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self._s3.head_object(Bucket=self._bucket, Key=self._key(sha256))
        except ClientError as error:
            if _absent(error):
                return None
            raise
        return head

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def written(self, sha256: str) -> float | None:
        head = self._head(sha256)
        return None if head is None else float(head["LastModified"].timestamp())

    def read(self, sha256: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=self._key(sha256))
        except ClientError as error:
            if _absent(error):
                raise FileNotFoundError(sha256) from error
            raise
        data: bytes = answer["Body"].read()
        return data

    def delete(self, sha256: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=self._key(sha256))


def _absent(error: Any) -> bool:
    """Whether an S3 error says there is no such object (HEAD answers a bare 404)."""
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def open_blobs(blob_url: str, default_root: Path) -> Blobs:
    """The store `blob_url` names: `s3://bucket/prefix`, a directory, or "" (`default_root`)."""
    if not blob_url:
        return BlobStore(default_root)
    parts = urlsplit(blob_url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("MCS_BLOB_URL: s3://bucket/prefix needs a bucket")
        return S3Blobs(parts.netloc, parts.path)
    if parts.scheme in ("", "file"):
        return BlobStore(Path(parts.path))
    raise ValueError(f"MCS_BLOB_URL: {parts.scheme}:// is not a blob store (s3:// or a path)")
