"""Masterdata: customers, contacts, companies and products, plus the version of their content."""

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, tz-aware (outside workflows only)."""
    return datetime.now(UTC)


class CustomerBase(SQLModel):
    customer_id: str = Field(primary_key=True, min_length=1)
    customer_num: str = Field(default="", index=True)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Customer(CustomerBase, table=True):
    __tablename__ = "customers"


class ContactBase(SQLModel):
    contact_id: str = Field(primary_key=True, min_length=1)
    email: str = Field(index=True, unique=True, min_length=3)
    name: str = ""
    customer_id: str = Field(index=True)
    sales_email: str | None = None


class Contact(ContactBase, table=True):
    __tablename__ = "contacts"


class CompanyBase(SQLModel):
    company_id: str = Field(primary_key=True, min_length=1)
    name: str = Field(min_length=1)


class Company(CompanyBase, table=True):
    __tablename__ = "companies"


class ProductBase(SQLModel):
    product_id: str = Field(primary_key=True, min_length=1)
    product_code: str = Field(index=True)
    name: str = ""
    unit: str = ""


class Product(ProductBase, table=True):
    __tablename__ = "products"


class MasterdataVersion(SQLModel, table=True):
    """One row: a counter that every masterdata write increases."""

    __tablename__ = "masterdata_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    checksum: str = ""
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class MasterdataSet(BaseModel):
    """The whole masterdata, as `/v1/masterdata/all` answers and `/bulk` takes it."""

    customers: list[CustomerBase] = []
    contacts: list[ContactBase] = []
    companies: list[CompanyBase] = []
    products: list[ProductBase] = []
