"""The access log never holds the signature of a signed file URL."""

import logging
from pathlib import Path

import pytest
import uvicorn

from api.main import create_app
from settings import Settings


def test_signed_file_urls_are_logged_without_their_signature(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    uvicorn.Config(app).configure_logging()  # what `uvicorn.run` does after the app is built
    access = logging.getLogger("uvicorn.access")
    access.addHandler(caplog.handler)
    try:
        path = "/files/ab.pdf?expires=1795340559&signature=675d20cd5aa7e511f5"
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", path, "1.1", 200)
    finally:
        access.removeHandler(caplog.handler)
    logged = caplog.records[-1].getMessage()
    assert "/files/ab.pdf?expires=1795340559&signature=***" in logged
    assert "675d20cd" not in logged
