"""Masterdata in the database: versioned snapshots for matching, writes that bump the version."""

import hashlib
import json
import threading
from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.matching import CustomerIndex
from models.masterdata import (
    Company,
    Contact,
    Customer,
    MasterdataSet,
    MasterdataVersion,
    Product,
    utcnow,
)
from models.results import ContactMatch, MasterdataInfo, MatchContactInput


@dataclass
class Snapshot:
    """All masterdata of one version, indexed for the matching steps."""

    version: int
    checksum: str
    customers: dict[str, Customer]
    contacts_by_email: dict[str, Contact]
    index: CustomerIndex


def current_version(session: Session) -> int:
    row = session.get(MasterdataVersion, 1)
    return row.version if row else 0


def bump_version(session: Session) -> int:
    """Increase the masterdata version inside the caller's transaction."""
    row = session.get(MasterdataVersion, 1) or MasterdataVersion(id=1, version=0)
    row.version += 1
    row.updated_at = utcnow()
    session.add(row)
    return row.version


def replace_masterdata(session: Session, data: MasterdataSet) -> int:
    """Replace all masterdata with `data` in the caller's transaction; returns the new version."""
    for table in (Contact, Customer, Company, Product):
        session.exec(delete(table))
    session.add_all(Customer.model_validate(c) for c in data.customers)
    session.add_all(Contact.model_validate(c) for c in data.contacts)
    session.add_all(Company.model_validate(c) for c in data.companies)
    session.add_all(Product.model_validate(p) for p in data.products)
    return bump_version(session)


def _checksum(customers: list[Customer], contacts: list[Contact]) -> str:
    rows = [c.model_dump() for c in customers] + [c.model_dump() for c in contacts]
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


class MasterdataCache:
    """Loads a snapshot once per masterdata version; the next run after a write sees the change."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self, version: int | None = None) -> Snapshot:
        """The current snapshot; `version` (from `load_masterdata`) skips the version query."""
        cached = self._snapshot
        if version is not None and cached is not None and cached.version == version:
            return cached
        with Session(self._engine) as session:
            version = current_version(session)
            cached = self._snapshot
            if cached is not None and cached.version == version:
                return cached
            with self._lock:
                if self._snapshot is None or self._snapshot.version != version:
                    self._snapshot = self._load(session, version)
                return self._snapshot

    @staticmethod
    def _load(session: Session, version: int) -> Snapshot:
        customers = list(session.exec(select(Customer).order_by(Customer.customer_id)))
        contacts = list(session.exec(select(Contact).order_by(Contact.contact_id)))
        return Snapshot(
            version=version,
            checksum=_checksum(customers, contacts),
            customers={c.customer_id: c for c in customers},
            contacts_by_email={c.email.strip().lower(): c for c in contacts},
            index=CustomerIndex(customers),
        )


class MasterdataActivities:
    """Reads masterdata for the workflow; only ids and small facts go back into history."""

    def __init__(self, cache: MasterdataCache) -> None:
        self._cache = cache

    @activity.defn
    def load_masterdata(self) -> MasterdataInfo:
        """Load (or reuse) the current masterdata snapshot and report its version."""
        snapshot = self._cache.get()
        if not snapshot.customers or not snapshot.contacts_by_email:
            raise ApplicationError(
                "masterdata has no customers or no contacts",
                type="MasterdataInvalid",
                non_retryable=True,
            )
        return MasterdataInfo(
            version=snapshot.version,
            checksum=snapshot.checksum,
            customers=len(snapshot.customers),
            contacts=len(snapshot.contacts_by_email),
        )

    @activity.defn
    def match_contact(self, input: MatchContactInput) -> ContactMatch:
        """Find the sender among the known contacts (exact, case-insensitive email)."""
        contact = self._cache.get(input.version).contacts_by_email.get(
            input.from_email.strip().lower()
        )
        if contact is None:
            return ContactMatch()
        return ContactMatch(
            contact_id=contact.contact_id,
            customer_id=contact.customer_id,
            name=contact.name,
            email=contact.email,
            sales_email=contact.sales_email,
        )
