"""Test helpers: finding server binaries (serving and free ports come from devstack)."""

import os
import shutil
import sys
from pathlib import Path

import pytest

from devstack import free_port, serve

__all__ = ["REQUIRE_SERVICES", "binary", "free_port", "serve"]

REQUIRE_SERVICES = os.environ.get("MCS_REQUIRE_SERVICES") == "1"


def binary(name: str) -> str:
    """Path of a server binary; skips (or fails under MCS_REQUIRE_SERVICES=1) when missing."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    reason = f"{name} is not installed (pip install -e '.[dev]' provides it)"
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)
