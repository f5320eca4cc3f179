"""Masterdata contacts: list, read, create or replace, delete (`/v1/masterdata/contacts`)."""

from fastapi import APIRouter, Response

from api.deps import SessionDep
from api.masterdata_rows import Page, one, page, remove, replace, write
from api.routes.masterdata import Limit, Offset, Reader, Writer
from models.masterdata import ContactBase

router = APIRouter(prefix="/v1/masterdata", tags=["masterdata"])
KIND = "contacts"


@router.get("/contacts", response_model=Page[ContactBase], dependencies=[Reader])
def list_contacts(
    db: SessionDep,
    q: str | None = None,
    customer_id: str | None = None,
    email: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict[str, object]:
    """List contacts (filters: `q` text in their fields, `customer_id`, `email`)."""
    return page(db, KIND, offset, limit, q=q, customer_id=customer_id, email=email)


@router.post("/contacts", response_model=ContactBase, status_code=201)
def create_contact(row: ContactBase, db: SessionDep, response: Response, caller: Writer) -> object:
    """Create or replace one of the contacts (201 created, 200 replaced)."""
    response.status_code = 201 if write(db, caller.name, KIND, row) else 200
    return one(db, KIND, row.contact_id)


@router.get("/contacts/{contact_id}", response_model=ContactBase, dependencies=[Reader])
def get_contact(contact_id: str, db: SessionDep) -> object:
    """One of the contacts."""
    return one(db, KIND, contact_id)


@router.put("/contacts/{contact_id}", response_model=ContactBase)
def put_contact(contact_id: str, row: ContactBase, db: SessionDep, caller: Writer) -> object:
    """Create or replace one of the contacts."""
    return replace(db, caller.name, KIND, contact_id, row)


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(contact_id: str, db: SessionDep, caller: Writer) -> Response:
    """Delete one of the contacts (409 while others need it)."""
    remove(db, caller.name, KIND, contact_id)
    return Response(status_code=204)
