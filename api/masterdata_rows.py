"""Single masterdata rows, shared by the routes of every kind (`api/routes/<kind>.py`): one page,
one row, a write and a delete, each audited by the caller's key name."""

from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import Session, SQLModel

from models import masterdata_store as store
from models.errors import Conflict, Invalid, NotFound
from telemetry.actions import record

Row = TypeVar("Row", bound=SQLModel)


class Page(BaseModel, Generic[Row]):
    """One page of rows, and how many match in all."""

    items: list[Row]
    total: int
    offset: int
    limit: int


def page(db: Session, name: str, offset: int, limit: int, **filters: str | None) -> dict[str, Any]:
    """The rows of `name` matching the filters (`q`: a substring of the searchable fields)."""
    rows, total = store.listing(db, name, filters, offset, limit)
    return {"items": rows, "total": total, "offset": offset, "limit": limit}


def one(db: Session, name: str, key: str) -> SQLModel:
    kind = store.KINDS[name]
    row = db.get(kind.table, key)
    if row is None:
        raise NotFound(f"no {name} row {key!r}")
    return kind.base.model_validate(row)  # its JSON columns as their models


def write(db: Session, actor: str, name: str, row: SQLModel) -> bool:
    """Create or replace the row (True: created); Invalid when the masterdata would not hold."""
    kind = store.KINDS[name]
    key = str(getattr(row, kind.key))
    before = db.get(kind.table, key)
    was = kind.base.model_validate(before).model_dump() if before is not None else None
    try:
        created = store.upsert(db, name, row)
    except store.MasterdataError as error:
        raise Invalid(str(error), error.problems) from error
    record(db, actor, "masterdata.upsert", f"{name}/{key}", changes(was, row))
    return created


def replace(db: Session, actor: str, name: str, key: str, row: SQLModel) -> SQLModel:
    """Create or replace the row named `key` in the path (the body must name the same)."""
    field = store.KINDS[name].key
    if getattr(row, field) != key:
        raise Invalid(f"{field} in the body must be {key!r}")
    write(db, actor, name, row)
    return one(db, name, key)


def remove(db: Session, actor: str, name: str, key: str) -> None:
    """Delete the row; Conflict when others still need it (a customer's contacts)."""
    try:
        found = store.remove(db, name, key)
    except store.MasterdataError as error:
        raise Conflict(str(error), error.problems) from error
    if not found:
        raise NotFound(f"no {name} row {key!r}")
    record(db, actor, "masterdata.delete", f"{name}/{key}", "deleted")


def changes(before: dict[str, Any] | None, row: SQLModel) -> str:
    """`created`, or the fields a write changed with their old and new values."""
    if before is None:
        return "created"
    after = row.model_dump(exclude={"learned_aliases"} - row.model_fields_set)  # kept if unnamed
    changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in after.items() if before.get(k) != v]
    return "; ".join(changed) or "unchanged"
