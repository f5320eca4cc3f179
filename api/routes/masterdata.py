"""Masterdata: customers, contacts, companies and products (CRUD, bulk, version)."""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, create_model
from sqlmodel import Session, SQLModel

from api.deps import SessionDep, allow
from models import masterdata_store as store
from models.actions import record
from models.masterdata import MasterdataSet
from settings import ApiKey

router = APIRouter(prefix="/v1/masterdata", tags=["masterdata"])
Reader = Depends(allow("masterdata:read"))
Writer = Annotated[ApiKey, Depends(allow("masterdata:write"))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]  # what every database takes


def _unprocessable(error: store.MasterdataError) -> HTTPException:
    return HTTPException(422, error.problems)


@router.get("/all", response_model=MasterdataSet, dependencies=[Reader])
def get_all(db: SessionDep) -> MasterdataSet:
    """All masterdata in one document (the shape `/bulk` takes)."""
    return store.everything(db)


@router.get("/version", response_model=store.VersionInfo, dependencies=[Reader])
def get_version(db: SessionDep) -> store.VersionInfo:
    """The masterdata version (increases on every write) and a checksum of the content."""
    return store.version_info(db)


@router.put("/bulk", response_model=store.BulkReport)
def put_bulk(
    data: MasterdataSet,
    db: SessionDep,
    caller: Writer,
    mode: Literal["upsert", "replace"] = "upsert",
) -> store.BulkReport:
    """Upsert (or replace) many rows in one transaction: all or nothing, with a change report."""
    try:
        report = store.apply(db, data, replace=mode == "replace")
    except store.MasterdataError as error:
        raise _unprocessable(error) from error
    record(db, caller.name, f"masterdata.bulk.{mode}", "masterdata", report.model_dump_json())
    return report


def _register(name: str, kind: store.Kind) -> None:
    page_model: type[BaseModel] = create_model(
        f"{kind.base.__name__}Page", items=(list[kind.base], ...), total=(int, ...),  # type: ignore[name-defined]
        offset=(int, ...), limit=(int, ...),
    )  # fmt: skip
    body_type: Any = kind.base

    def list_rows(
        db: SessionDep, q: str | None = None, customer_id: str | None = None,
        email: str | None = None, offset: Offset = 0, limit: Limit = 50,
    ) -> dict[str, object]:  # fmt: skip
        filters = {"q": q, "customer_id": customer_id, "email": email}
        rows, total = store.listing(db, name, filters, offset, limit)
        return {"items": rows, "total": total, "offset": offset, "limit": limit}

    def write(db: Session, caller: ApiKey, row: SQLModel) -> bool:
        key = str(getattr(row, kind.key))
        before = db.get(kind.table, key)
        was = before.model_dump() if before is not None else None
        try:
            created = store.upsert(db, name, row)
        except store.MasterdataError as error:
            raise _unprocessable(error) from error
        record(db, caller.name, "masterdata.upsert", f"{name}/{key}", changes(was, row))
        return created

    def create_row(row: body_type, db: SessionDep, response: Response, caller: Writer) -> SQLModel:
        response.status_code = 201 if write(db, caller, row) else 200
        return _get(db, name, getattr(row, kind.key))

    def get_row(key: str, db: SessionDep) -> SQLModel:
        return _get(db, name, key)

    def put_row(key: str, row: body_type, db: SessionDep, caller: Writer) -> SQLModel:
        if getattr(row, kind.key) != key:
            raise HTTPException(422, f"{kind.key} in the body must be {key!r}")
        write(db, caller, row)
        return _get(db, name, key)

    def delete_row(key: str, db: SessionDep, caller: Writer) -> Response:
        try:
            found = store.remove(db, name, key)
        except store.MasterdataError as error:
            raise HTTPException(409, error.problems) from error
        if not found:
            raise HTTPException(404, f"no {name} row {key!r}")
        record(db, caller.name, "masterdata.delete", f"{name}/{key}", "deleted")
        return Response(status_code=204)

    routes: list[tuple[str, str, Callable[..., Any], dict[str, Any], str]] = [
        ("GET", f"/{name}", list_rows, {"response_model": page_model}, f"List {name}."),
        ("POST", f"/{name}", create_row, {"response_model": kind.base, "status_code": 201},
         f"Create or replace one of the {name} (201 created, 200 replaced)."),
        ("GET", f"/{name}/{{key}}", get_row, {"response_model": kind.base}, f"One of the {name}."),
        ("PUT", f"/{name}/{{key}}", put_row, {"response_model": kind.base},
         f"Create or replace one of the {name}."),
        ("DELETE", f"/{name}/{{key}}", delete_row, {"status_code": 204},
         f"Delete one of the {name}."),
    ]  # fmt: skip
    for method, path, endpoint, options, doc in routes:
        endpoint.__doc__ = doc
        reads = [Reader] if method == "GET" else []
        router.add_api_route(
            path, endpoint, methods=[method], name=f"{method.lower()}_{name}_{endpoint.__name__}",
            dependencies=reads, **options,
        )  # fmt: skip


def changes(before: dict[str, Any] | None, row: SQLModel) -> str:
    """`created`, or the fields a write changed with their old and new values."""
    if before is None:
        return "created"
    after = row.model_dump()
    changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in after.items() if before.get(k) != v]
    return "; ".join(changed) or "unchanged"


def _get(db: SessionDep, name: str, key: str) -> SQLModel:
    kind = store.KINDS[name]
    row = db.get(kind.table, key)
    if row is None:
        raise HTTPException(404, f"no {name} row {key!r}")
    return row


for _name, _kind in store.KINDS.items():
    _register(_name, _kind)
