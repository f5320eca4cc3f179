"""Masterdata: customers, contacts, companies and products, plus the version of their content."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, field_validator
from sqlalchemy import JSON, Column, DateTime, Numeric, String
from sqlmodel import Field, SQLModel

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _required(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def utcnow() -> datetime:
    """The current time, tz-aware (outside workflows only)."""
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """`moment`, read as UTC when it has no time zone (as a query parameter may come)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class LearnedAlias(BaseModel):
    """A name a customer review taught for a customer (the contract file's name matched none
    well and the reviewer chose this customer); inactive: proposed, waiting for approval."""

    alias: str = Field(min_length=1, max_length=200)
    source: Literal["learned"] = "learned"
    active: bool = True
    learned_from: str = ""  # the run
    created_by: str = ""  # the reviewer
    created_at: str = ""  # ISO 8601


class CustomerBase(SQLModel):
    """A customer; `learned_aliases` are kept as they are when a write does not name them."""

    customer_id: str = Field(primary_key=True, min_length=1)
    customer_num: str = Field(default="", index=True)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    learned_aliases: list[LearnedAlias] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        max_length=1000,
    )

    _ids = field_validator("customer_id", "name")(_required)

    @field_validator("customer_num")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("aliases")
    @classmethod
    def _clean_aliases(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(a.strip() for a in value if a.strip()))


class Customer(CustomerBase, table=True):
    __tablename__ = "customers"

    def names(self) -> list[str]:
        """The name, the aliases and the active learned aliases: what matching compares."""
        learned = [LearnedAlias.model_validate(a) for a in self.learned_aliases]
        return [self.name, *self.aliases, *(a.alias for a in learned if a.active)]


class ContactBase(SQLModel):
    contact_id: str = Field(primary_key=True, min_length=1)
    email: str = Field(index=True, unique=True, min_length=3)
    name: str = ""
    customer_id: str = Field(index=True)
    sales_email: str | None = None

    _ids = field_validator("contact_id", "customer_id")(_required)
    _address = field_validator("email")(_email)

    @field_validator("sales_email")
    @classmethod
    def _sales_email(cls, value: str | None) -> str | None:
        return _email(value) if value and value.strip() else None


class Contact(ContactBase, table=True):
    __tablename__ = "contacts"


class CompanyBase(SQLModel):
    company_id: str = Field(primary_key=True, min_length=1)
    name: str = Field(min_length=1)

    _ids = field_validator("company_id", "name")(_required)


class Company(CompanyBase, table=True):
    __tablename__ = "companies"


class ProductBase(SQLModel):
    product_id: str = Field(primary_key=True, min_length=1)
    product_code: str = Field(index=True)
    name: str = ""
    unit: str = ""

    _ids = field_validator("product_id", "product_code")(_required)


class Product(ProductBase, table=True):
    __tablename__ = "products"


class ProductRefBase(SQLModel):
    """A customer's own code or description (`ref`) for one of our products; `unit_factor` turns
    the customer's quantity into ours (the price is divided by it). `source`: written by a person
    (`manual`) or learned from a review (`learned`, with the run and the reviewer); an inactive
    reference is a proposal waiting for approval."""

    ref_id: str = Field(primary_key=True, min_length=1)
    customer_id: str = Field(index=True)
    ref: str = Field(min_length=1)
    product_code: str = Field(min_length=1)
    unit_factor: Decimal = Field(default=Decimal(1), sa_type=Numeric(18, 6))
    source: Literal["manual", "learned"] = Field(default="manual", sa_type=String)
    active: bool = True
    learned_from: str = ""
    created_by: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))

    _ids = field_validator("ref_id", "customer_id", "ref", "product_code")(_required)

    @field_validator("unit_factor")
    @classmethod
    def _factor(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0 or value > 10**6:
            raise ValueError("must be a positive number of at most 1000000")
        return value


class ProductRef(ProductRefBase, table=True):
    __tablename__ = "product_refs"


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
    product_refs: list[ProductRefBase] = []
