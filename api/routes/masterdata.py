"""Masterdata as a whole: all of it, its version, bulk changes (rows: `routes/<kind>.py`)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep, allow
from models import masterdata_store as store
from models.errors import Invalid
from models.masterdata import MasterdataSet
from settings import ApiKey
from telemetry.actions import record

router = APIRouter(prefix="/v1/masterdata", tags=["masterdata"])
Reader = Depends(allow("masterdata:read"))
Writer = Annotated[ApiKey, Depends(allow("masterdata:write"))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]  # what every database takes


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
        raise Invalid(str(error), error.problems) from error
    record(db, caller.name, f"masterdata.bulk.{mode}", "masterdata", report.model_dump_json())
    return report
