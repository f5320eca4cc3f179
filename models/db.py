"""Database engine and schema set-up; the URL alone picks SQLite or PostgreSQL."""

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import BindParameter, Connection, Engine, bindparam, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, create_engine

import models.actions  # noqa: F401
import models.ingest  # noqa: F401
import models.masterdata  # noqa: F401  (registers the tables)
import models.runs  # noqa: F401

POOL_SIZE = 20  # PostgreSQL connections kept per process: MCS_DATABASE_POOL_SIZE
OVERFLOW = 10  # and opened beyond them at a peak


def make_engine(url: str, pool_size: int = POOL_SIZE) -> Engine:
    """An engine for the URL; SQLite gets WAL and a busy timeout so API and worker can share it.
    PostgreSQL: `pool_size` connections kept (with SQLAlchemy's 5, a burst opened and closed
    connections all the time: a server process and a SCRAM login each), OVERFLOW more at a peak."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=OVERFLOW)
        event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
        return engine
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


Parameters = dict[str, Any] | Sequence[Any]


def _without_nul(
    connection: Connection,
    cursor: object,
    statement: str,
    parameters: Parameters | list[Parameters],
    context: object,
    executemany: bool,
) -> tuple[str, Parameters | list[Parameters]]:
    """PostgreSQL stores no NUL character in text: a contract number holding one (as Dify read
    it from a PDF) made every write of its run fail, and the run never ended. Each NUL in a
    statement's text parameters becomes U+FFFD (the replacement character), in a WHERE clause as
    in a row, so a value still finds itself. (The API refuses JSON holding NUL; mail headers lose
    their control characters when read.)"""
    if not parameters:  # a statement without parameters
        return statement, parameters
    if executemany:
        return statement, [_cleaned(each) for each in cast(list[Parameters], parameters)]
    return statement, _cleaned(cast(Parameters, parameters))


def _cleaned(parameters: Parameters) -> Parameters:
    def clean(value: Any) -> Any:
        return value.replace("\x00", "\ufffd") if isinstance(value, str) else value

    if isinstance(parameters, dict):
        return {name: clean(value) for name, value in parameters.items()}
    return type(parameters)(clean(value) for value in parameters)  # type: ignore[call-arg]


def insert_or(dialect_name: str, model: type[SQLModel]) -> sqlite.Insert:
    """An INSERT of `model`'s table that can say what a conflict does (`on_conflict_do_nothing`,
    `on_conflict_do_update`): one statement where the ORM would read the row, then write it.
    Its result's `rowcount` says whether a row was written: SQLAlchemy keeps it only when asked
    (`preserve_rowcount`; without it, psycopg's result said -1 whether or not the row was
    written). SQLite's and PostgreSQL's statements share that API; typed as SQLite's. Given the
    dialect's name (`connection.dialect.name`), not a connection: every caller builds its
    statement once (`bound`)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(model.__table__)  # type: ignore[attr-defined]
    return cast(sqlite.Insert, statement.execution_options(preserve_rowcount=True))


def bound(
    model: type[SQLModel], names: Iterable[str] | None = None
) -> dict[str, BindParameter[Any]]:
    """A parameter per column of `model` named (every column when None), typed as its column:
    the values of a statement built once (`functools.cache`) and run with each row's values.
    Building a statement (each value coerced, its cache key made) cost more CPU than running it
    on SQLite: a run's final record, 1.0 ms -> 0.3 ms."""
    columns = model.__table__.c  # type: ignore[attr-defined]
    return {name: bindparam(name, type_=columns[name].type) for name in names or columns.keys()}
