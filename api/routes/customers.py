"""Masterdata customers: list, read, create or replace, delete (`/v1/masterdata/customers`), and
the aliases reviews taught them: approve a proposed one, delete one."""

from fastapi import APIRouter, Response

from api.deps import SessionDep
from api.masterdata_rows import Page, one, page, remove, replace, write
from api.routes.masterdata import Limit, Offset, Reader, Writer
from models.errors import NotFound
from models.masterdata import CustomerBase, LearnedAlias

router = APIRouter(prefix="/v1/masterdata", tags=["masterdata"])
KIND = "customers"


@router.get("/customers", response_model=Page[CustomerBase], dependencies=[Reader])
def list_customers(
    db: SessionDep,
    q: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict[str, object]:
    """List customers (filters: `q` a text in their searchable fields)."""
    return page(db, KIND, offset, limit, q=q)


@router.post("/customers", response_model=CustomerBase, status_code=201)
def create_customer(
    row: CustomerBase, db: SessionDep, response: Response, caller: Writer
) -> object:
    """Create or replace one of the customers (201 created, 200 replaced)."""
    response.status_code = 201 if write(db, caller.name, KIND, row) else 200
    return one(db, KIND, row.customer_id)


@router.get("/customers/{customer_id}", response_model=CustomerBase, dependencies=[Reader])
def get_customer(customer_id: str, db: SessionDep) -> object:
    """One of the customers."""
    return one(db, KIND, customer_id)


@router.put("/customers/{customer_id}", response_model=CustomerBase)
def put_customer(customer_id: str, row: CustomerBase, db: SessionDep, caller: Writer) -> object:
    """Create or replace one of the customers."""
    return replace(db, caller.name, KIND, customer_id, row)


@router.delete("/customers/{customer_id}", status_code=204)
def delete_customer(customer_id: str, db: SessionDep, caller: Writer) -> Response:
    """Delete one of the customers (409 while others need it)."""
    remove(db, caller.name, KIND, customer_id)
    return Response(status_code=204)


def _learned(db: SessionDep, customer_id: str, alias: str) -> tuple[CustomerBase, LearnedAlias]:
    customer = CustomerBase.model_validate(one(db, KIND, customer_id))
    found = next((a for a in customer.learned_aliases if a.alias == alias), None)
    if found is None:
        raise NotFound(f"customer {customer_id!r} has no learned alias {alias!r}")
    return customer, found


@router.delete("/customers/{customer_id}/learned_aliases/{alias}", status_code=204)
def delete_learned_alias(customer_id: str, alias: str, db: SessionDep, caller: Writer) -> Response:
    """Forget a learned alias: later contracts under that name are reviewed again."""
    customer, found = _learned(db, customer_id, alias)
    kept = [a for a in customer.learned_aliases if a is not found]
    write(db, caller.name, KIND, customer.model_copy(update={"learned_aliases": kept}))
    return Response(status_code=204)


@router.post(
    "/customers/{customer_id}/learned_aliases/{alias}/approve", response_model=CustomerBase
)
def approve_learned_alias(customer_id: str, alias: str, db: SessionDep, caller: Writer) -> object:
    """Approve a proposed alias: later contracts under that name match this customer."""
    customer, found = _learned(db, customer_id, alias)
    approved = found.model_copy(update={"active": True})
    aliases = [approved if a is found else a for a in customer.learned_aliases]
    write(db, caller.name, KIND, customer.model_copy(update={"learned_aliases": aliases}))
    return one(db, KIND, customer_id)
