"""Masterdata product references: a customer's own code or description for one of our products
(`/v1/masterdata/product_refs`): list, read, create or replace, delete, approve a proposal."""

from typing import Literal

from fastapi import APIRouter, Response

from api.deps import SessionDep
from api.masterdata_rows import Page, one, page, remove, replace, write
from api.routes.masterdata import Limit, Offset, Reader, Writer
from models.masterdata import ProductRefBase

router = APIRouter(prefix="/v1/masterdata", tags=["masterdata"])
KIND = "product_refs"


@router.get("/product_refs", response_model=Page[ProductRefBase], dependencies=[Reader])
def list_product_refs(
    db: SessionDep,
    q: str | None = None,
    customer_id: str | None = None,
    source: Literal["manual", "learned"] | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict[str, object]:
    """List product references (filters: `q` text in their fields, `customer_id`, `source`)."""
    return page(db, KIND, offset, limit, q=q, customer_id=customer_id, source=source)


@router.post("/product_refs", response_model=ProductRefBase, status_code=201)
def create_product_ref(
    row: ProductRefBase, db: SessionDep, response: Response, caller: Writer
) -> object:
    """Create or replace one of the product references (201 created, 200 replaced)."""
    response.status_code = 201 if write(db, caller.name, KIND, row) else 200
    return one(db, KIND, row.ref_id)


@router.get("/product_refs/{ref_id}", response_model=ProductRefBase, dependencies=[Reader])
def get_product_ref(ref_id: str, db: SessionDep) -> object:
    """One of the product references."""
    return one(db, KIND, ref_id)


@router.put("/product_refs/{ref_id}", response_model=ProductRefBase)
def put_product_ref(ref_id: str, row: ProductRefBase, db: SessionDep, caller: Writer) -> object:
    """Create or replace one of the product references."""
    return replace(db, caller.name, KIND, ref_id, row)


@router.delete("/product_refs/{ref_id}", status_code=204)
def delete_product_ref(ref_id: str, db: SessionDep, caller: Writer) -> Response:
    """Delete one of the product references: later runs no longer resolve by it."""
    remove(db, caller.name, KIND, ref_id)
    return Response(status_code=204)


@router.post("/product_refs/{ref_id}/approve", response_model=ProductRefBase)
def approve_product_ref(ref_id: str, db: SessionDep, caller: Writer) -> object:
    """Approve a proposed reference: later runs resolve by it."""
    proposed = ProductRefBase.model_validate(one(db, KIND, ref_id))
    write(db, caller.name, KIND, proposed.model_copy(update={"active": True}))
    return one(db, KIND, ref_id)
