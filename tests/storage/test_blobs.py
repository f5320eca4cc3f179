"""Blob store and signed file URLs."""

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from storage.blobs import BlobStore, S3Blobs, open_blobs
from storage.signed_urls import sign_file_url, verify_file_signature
from tests.helpers import s3_server


def test_blob_store_is_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"hello")
    assert store.put(b"hello") == digest and store.read(digest) == b"hello"
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


def test_signed_url_verifies_until_it_expires() -> None:
    url = urlparse(sign_file_url("http://api", "abc.pdf", "secret", 60))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    expires, signature = int(query["expires"]), query["signature"]
    assert url.path == "/files/abc.pdf"
    assert verify_file_signature("abc.pdf", expires, signature, "secret")
    assert not verify_file_signature("abd.pdf", expires, signature, "secret")
    assert not verify_file_signature("abc.pdf", expires, signature, "other-secret")
    assert not verify_file_signature("abc.pdf", int(time.time()) - 1, signature, "secret")


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_both_stores_keep_read_and_delete_by_digest(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with s3_server() as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        url = "s3://mcs/blobs/test" if kind == "s3" else str(tmp_path)
        store = open_blobs(url, tmp_path / "unused")
        assert isinstance(store, S3Blobs if kind == "s3" else BlobStore)
        digest = store.put(b"%PDF-1.7 contract")
        assert store.put(b"%PDF-1.7 contract") == digest and store.exists(digest)
        assert store.read(digest) == b"%PDF-1.7 contract"
        other = open_blobs(url, tmp_path / "unused")  # another process, same store
        assert other.read(digest) == b"%PDF-1.7 contract"
        store.delete(digest)
        store.delete(digest)  # already gone: nothing happens
        assert not other.exists(digest)
        with pytest.raises(FileNotFoundError):
            other.read(digest)
        with pytest.raises(ValueError):
            store.read("../../etc/passwd")


def test_a_blob_url_names_its_store() -> None:
    with pytest.raises(ValueError, match="needs a bucket"):
        open_blobs("s3:///prefix", Path("x"))
    with pytest.raises(ValueError, match="ftp:// is not a blob store"):
        open_blobs("ftp://host/x", Path("x"))
