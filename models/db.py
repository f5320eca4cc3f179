"""Database engine and schema set-up; the URL alone picks SQLite or PostgreSQL."""

from pathlib import Path

from sqlalchemy import Engine, event
from sqlmodel import create_engine

import models.actions  # noqa: F401
import models.ingest  # noqa: F401
import models.masterdata  # noqa: F401  (registers the tables)
import models.runs  # noqa: F401


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL and a busy timeout so API and worker can share it."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine
