"""Masterdata companies: list, read, create or replace, delete (`/v1/masterdata/companies`)."""

from fastapi import APIRouter, Response

from api.deps import SessionDep
from api.masterdata_rows import Page, one, page, remove, replace, write
from api.routes.masterdata import Limit, Offset, Reader, Writer
from models.masterdata import CompanyBase

router = APIRouter(prefix="/v1/masterdata", tags=["masterdata"])
KIND = "companies"


@router.get("/companies", response_model=Page[CompanyBase], dependencies=[Reader])
def list_companies(
    db: SessionDep,
    q: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict[str, object]:
    """List companies (filters: `q` a text in their searchable fields)."""
    return page(db, KIND, offset, limit, q=q)


@router.post("/companies", response_model=CompanyBase, status_code=201)
def create_company(row: CompanyBase, db: SessionDep, response: Response, caller: Writer) -> object:
    """Create or replace one of the companies (201 created, 200 replaced)."""
    response.status_code = 201 if write(db, caller.name, KIND, row) else 200
    return one(db, KIND, row.company_id)


@router.get("/companies/{company_id}", response_model=CompanyBase, dependencies=[Reader])
def get_company(company_id: str, db: SessionDep) -> object:
    """One of the companies."""
    return one(db, KIND, company_id)


@router.put("/companies/{company_id}", response_model=CompanyBase)
def put_company(company_id: str, row: CompanyBase, db: SessionDep, caller: Writer) -> object:
    """Create or replace one of the companies."""
    return replace(db, caller.name, KIND, company_id, row)


@router.delete("/companies/{company_id}", status_code=204)
def delete_company(company_id: str, db: SessionDep, caller: Writer) -> Response:
    """Delete one of the companies (409 while others need it)."""
    remove(db, caller.name, KIND, company_id)
    return Response(status_code=204)
