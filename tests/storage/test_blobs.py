"""Blob store and signed file URLs."""

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from storage.blobs import BlobStore
from storage.signed_urls import sign_file_url, verify_file_signature


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
