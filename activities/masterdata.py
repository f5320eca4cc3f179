"""Masterdata for the workflow: versioned snapshots, cached for matching, read by the steps."""

import threading
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.matching import CustomerIndex
from models import masterdata_store as store
from models.masterdata import Contact, Customer
from models.results import ContactMatch, MasterdataInfo, MatchContactInput


@dataclass
class Snapshot:
    """All masterdata of one version, indexed for the matching steps."""

    version: int
    checksum: str
    customers: dict[str, Customer]
    contacts_by_email: dict[str, Contact]
    index: CustomerIndex


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
            version = store.current(session)
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
            checksum=store.version_info(session).checksum,
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
