"""Masterdata products: list, read, create or replace, delete (`/v1/masterdata/products`)."""

from fastapi import APIRouter, Response

from api.deps import SessionDep
from api.masterdata_rows import Page, one, page, remove, replace, write
from api.routes.masterdata import Limit, Offset, Reader, Writer
from models.masterdata import ProductBase

router = APIRouter(prefix="/v1/masterdata", tags=["masterdata"])
KIND = "products"


@router.get("/products", response_model=Page[ProductBase], dependencies=[Reader])
def list_products(
    db: SessionDep,
    q: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict[str, object]:
    """List products (filters: `q` a text in their searchable fields)."""
    return page(db, KIND, offset, limit, q=q)


@router.post("/products", response_model=ProductBase, status_code=201)
def create_product(row: ProductBase, db: SessionDep, response: Response, caller: Writer) -> object:
    """Create or replace one of the products (201 created, 200 replaced)."""
    response.status_code = 201 if write(db, caller.name, KIND, row) else 200
    return one(db, KIND, row.product_id)


@router.get("/products/{product_id}", response_model=ProductBase, dependencies=[Reader])
def get_product(product_id: str, db: SessionDep) -> object:
    """One of the products."""
    return one(db, KIND, product_id)


@router.put("/products/{product_id}", response_model=ProductBase)
def put_product(product_id: str, row: ProductBase, db: SessionDep, caller: Writer) -> object:
    """Create or replace one of the products."""
    return replace(db, caller.name, KIND, product_id, row)


@router.delete("/products/{product_id}", status_code=204)
def delete_product(product_id: str, db: SessionDep, caller: Writer) -> Response:
    """Delete one of the products (409 while others need it)."""
    remove(db, caller.name, KIND, product_id)
    return Response(status_code=204)
