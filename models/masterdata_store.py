"""Masterdata persistence: validated upserts, bulk changes in one transaction, version, checksum."""

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update
from sqlmodel import Session, SQLModel, col

from models.masterdata import (
    Company,
    CompanyBase,
    Contact,
    ContactBase,
    Customer,
    CustomerBase,
    MasterdataSet,
    MasterdataVersion,
    Product,
    ProductBase,
    ProductRef,
    ProductRefBase,
    utcnow,
)
from models.orders import OrderPayload, product_key


@dataclass(frozen=True)
class Kind:
    table: type[SQLModel]
    base: type[SQLModel]
    key: str
    search: tuple[str, ...]


KINDS = {
    "customers": Kind(
        Customer, CustomerBase, "customer_id", ("customer_id", "customer_num", "name")
    ),
    "contacts": Kind(Contact, ContactBase, "contact_id", ("contact_id", "email", "name")),
    "companies": Kind(Company, CompanyBase, "company_id", ("company_id", "name")),
    "products": Kind(Product, ProductBase, "product_id", ("product_id", "product_code", "name")),
    "product_refs": Kind(
        ProductRef, ProductRefBase, "ref_id", ("ref_id", "ref", "product_code", "customer_id")
    ),
}


class MasterdataError(ValueError):
    """The change would leave the masterdata inconsistent; `problems` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ChangeReport(BaseModel):
    created: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    unchanged: int = 0


class BulkReport(BaseModel):
    version: int
    changes: dict[str, ChangeReport]


class VersionInfo(BaseModel):
    version: int
    checksum: str
    updated_at: str | None


def _rows(session: Session, kind: Kind) -> dict[str, dict[str, Any]]:
    result = session.connection().execute(select(kind.table))
    return {row[kind.key]: dict(row) for row in result.mappings()}


def validate(state: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Cross-row rules: contacts name known customers, emails and customer numbers are unique."""
    problems: list[str] = []
    numbers: dict[str, str] = {}
    for customer_id, row in sorted(state["customers"].items()):
        number = row["customer_num"]
        if number and number in numbers:
            problems.append(
                f"customer_num {number!r} is used by {numbers[number]} and {customer_id}"
            )
        numbers.setdefault(number, customer_id)
    emails: dict[str, str] = {}
    for contact_id, row in sorted(state["contacts"].items()):
        if row["customer_id"] not in state["customers"]:
            problems.append(f"contact {contact_id} names unknown customer {row['customer_id']!r}")
        email = row["email"]
        if email in emails:
            problems.append(f"email {email!r} is used by contacts {emails[email]} and {contact_id}")
        emails.setdefault(email, contact_id)
    problems += _ref_problems(state)
    if problems:
        raise MasterdataError(problems)


def _ref_problems(state: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """References name known customers and products, one reference per customer and code."""
    problems, seen = [], dict[tuple[str, str], str]()
    codes = {product_key(row["product_code"]) for row in state["products"].values()}
    for ref_id, row in sorted(state["product_refs"].items()):
        if row["customer_id"] not in state["customers"]:
            problems.append(f"product_ref {ref_id} names unknown customer {row['customer_id']!r}")
        if product_key(row["product_code"]) not in codes:
            problems.append(f"product_ref {ref_id} names unknown product {row['product_code']!r}")
        key = (row["customer_id"], product_key(row["ref"]))
        if key in seen:
            problems.append(f"product_refs {seen[key]} and {ref_id} are the same reference")
        seen.setdefault(key, ref_id)
    return problems


def bump_version(session: Session) -> int:
    """Increase the version in the caller's transaction (the checksum is recomputed on demand)."""
    row = session.get(MasterdataVersion, 1) or MasterdataVersion(id=1, version=0)
    row.version += 1
    row.checksum = ""
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row.version


def apply(session: Session, data: MasterdataSet, replace: bool = False) -> BulkReport:
    """Upsert (or, with `replace`, replace) all given rows in one transaction, or change nothing."""
    incoming = {name: _incoming(name, getattr(data, name)) for name in KINDS}
    existing = {name: _rows(session, kind) for name, kind in KINDS.items()}
    _keep_learned(data.customers, incoming["customers"], existing["customers"])
    state = {name: ({} if replace else dict(existing[name])) | incoming[name] for name in KINDS}
    validate(state)
    changes = {name: _change(existing[name], incoming[name], replace) for name in KINDS}
    connection = session.connection()
    for name, kind in KINDS.items():
        change, column = changes[name], getattr(kind.table, kind.key)
        if change.deleted:
            connection.execute(delete(kind.table).where(column.in_(change.deleted)))
        if change.updated:
            rows = [{**incoming[name][i], "_key": i} for i in change.updated]
            statement = update(kind.table).where(column == bindparam("_key"))
            connection.execute(statement, rows)
        if change.created:
            connection.execute(insert(kind.table), [incoming[name][i] for i in change.created])
    version = (
        bump_version(session) if any(_changed(c) for c in changes.values()) else current(session)
    )
    session.commit()
    return BulkReport(version=version, changes=changes)


def _incoming(name: str, rows: list[SQLModel]) -> dict[str, dict[str, Any]]:
    kind = KINDS[name]
    result: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = kind.base.model_validate(row).model_dump()
        if values[kind.key] in result:
            raise MasterdataError([f"{name}: {values[kind.key]!r} appears twice"])
        result[values[kind.key]] = values
    return result


def _keep_learned(
    given: list[CustomerBase],
    incoming: dict[str, dict[str, Any]],
    existing: dict[str, dict[str, Any]],
) -> None:
    """A customer written without `learned_aliases` keeps the ones it has: an import from
    another system never forgets what reviews taught (delete a learned alias on its own)."""
    for row in given:
        key = row.customer_id
        if "learned_aliases" not in row.model_fields_set and key in existing:
            incoming[key]["learned_aliases"] = existing[key]["learned_aliases"]


def _change(
    existing: dict[str, dict[str, Any]], incoming: dict[str, dict[str, Any]], replace: bool
) -> ChangeReport:
    created = [i for i in incoming if i not in existing]
    updated = [i for i in incoming if i in existing and existing[i] != incoming[i]]
    deleted = sorted(set(existing) - set(incoming)) if replace else []
    unchanged = len(incoming) - len(created) - len(updated)
    return ChangeReport(created=created, updated=updated, deleted=deleted, unchanged=unchanged)


def _changed(change: ChangeReport) -> bool:
    return bool(change.created or change.updated or change.deleted)


VERSION = select(col(MasterdataVersion.version)).where(col(MasterdataVersion.id) == 1)


def current(db: Session | Connection) -> int:
    """The masterdata version (0 before any was loaded): one small read, with a session or a
    bare connection."""
    connection = db.connection() if isinstance(db, Session) else db
    return connection.execute(VERSION).scalar() or 0


def upsert(session: Session, name: str, row: SQLModel) -> bool:
    """Create or replace one row; True when it was created."""
    report = apply(session, MasterdataSet.model_validate({name: [row]}))
    return bool(report.changes[name].created)


def remove(session: Session, name: str, key: str) -> bool:
    """Delete one row; False when there was none. A customer with contacts cannot go."""
    kind = KINDS[name]
    row = session.get(kind.table, key)
    if row is None:
        return False
    if name == "customers":
        tables: tuple[tuple[Any, str], ...] = ((Contact, "contacts"), (ProductRef, "references"))
        for table, what in tables:
            columns = table.__table__.c
            query = select(list(columns)[0]).where(columns.customer_id == key)
            used = session.connection().execute(query).scalars().all()
            if used:
                listed = ", ".join(map(str, used))
                raise MasterdataError([f"customer {key} still has {what}: {listed}"])
    session.delete(row)
    bump_version(session)
    session.commit()
    return True


def listing(
    session: Session, name: str, filters: dict[str, str | None], offset: int, limit: int
) -> tuple[list[SQLModel], int]:
    """One page of rows matching `q` (substring of the searchable fields) and exact filters."""
    kind = KINDS[name]
    table = kind.table.__table__  # type: ignore[attr-defined]
    query = select(table)
    if q := filters.get("q"):
        pattern = f"%{q.lower()}%"
        query = query.where(or_(*(func.lower(table.c[f]).like(pattern) for f in kind.search)))
    if (customer_id := filters.get("customer_id")) and "customer_id" in table.c:
        query = query.where(table.c.customer_id == customer_id)
    if (email := filters.get("email")) and "email" in table.c:
        query = query.where(table.c.email == email.strip().lower())
    if (source := filters.get("source")) and "source" in table.c:
        query = query.where(table.c.source == source)
    connection = session.connection()
    total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = query.order_by(table.c[kind.key]).offset(offset).limit(limit)
    rows = [kind.table.model_validate(dict(m)) for m in connection.execute(page).mappings()]
    return rows, int(total)


def everything(session: Session) -> MasterdataSet:
    return MasterdataSet.model_validate(
        {name: list(_rows(session, kind).values()) for name, kind in KINDS.items()}
    )


def version_info(session: Session) -> VersionInfo:
    """The version and a checksum of the whole content (computed once per version)."""
    row = session.get(MasterdataVersion, 1) or MasterdataVersion(id=1, version=0)
    if not row.checksum:
        content = everything(session).model_dump(mode="json")
        row.checksum = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        session.add(row)
        session.commit()
    updated = row.updated_at.isoformat() if row.version else None
    return VersionInfo(version=row.version, checksum=row.checksum, updated_at=updated)


def from_csv(text: str) -> MasterdataSet:
    """One kind of masterdata from CSV; the key column names the kind, aliases split on `|`."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = set(reader.fieldnames or [])
    name = next((n for n, k in KINDS.items() if k.key in columns), None)
    if name is None:
        keys = ", ".join(k.key for k in KINDS.values())
        raise MasterdataError([f"the CSV header names none of the key columns {keys}"])
    rows = []
    for line, row in enumerate(reader, start=2):
        values: dict[str, Any] = {k: (v or "").strip() for k, v in row.items() if k}
        if "aliases" in values:
            values["aliases"] = [a for a in values["aliases"].split("|") if a.strip()]
        try:
            rows.append(KINDS[name].base.model_validate(values))
        except ValueError as error:
            raise MasterdataError([f"line {line}: {error}"]) from error
    return MasterdataSet.model_validate({name: rows})


def product_keys(session: Session) -> set[str]:
    """Every product code of masterdata, as the order guard compares them."""
    codes = session.execute(select(col(Product.product_code))).scalars()
    return {product_key(code) for code in codes}


def unknown_products(session: Session, payload: OrderPayload) -> list[str]:
    """The product codes of an order that masterdata does not know, in the order's order."""
    known = product_keys(session)
    return [
        line.product_code for line in payload.lines if product_key(line.product_code) not in known
    ]


def product_refs(session: Session) -> dict[str, dict[str, ProductRef]]:
    """The active references by customer, each by its `ref` as product codes are compared."""
    found: dict[str, dict[str, ProductRef]] = {}
    for ref in session.scalars(select(ProductRef).where(col(ProductRef.active))):
        found.setdefault(ref.customer_id, {})[product_key(ref.ref)] = ref
    return found
