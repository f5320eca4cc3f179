"""Masterdata as matching reads it: one snapshot per masterdata version, indexed and cached."""

import threading
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select

from matching.index import CustomerIndex
from models import masterdata_store as store
from models.masterdata import Contact, Customer, ProductRef


@dataclass
class Snapshot:
    """All masterdata of one version, indexed for the matching steps."""

    version: int
    checksum: str
    customers: dict[str, Customer]
    contacts_by_email: dict[str, Contact]
    index: CustomerIndex
    products: set[str]  # product codes as the order guard compares them
    refs: dict[str, dict[str, ProductRef]]  # customer -> a customer's own code -> our product


class MasterdataCache:
    """Loads a snapshot once per masterdata version; the next run after a write sees the change."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # the database the snapshot is read from
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self, version: int | None = None) -> Snapshot:
        """The current snapshot; `version` (from `load_masterdata`) skips the version query."""
        cached = self._snapshot
        if version is not None and cached is not None and cached.version == version:
            return cached
        with Session(self.engine) as session:
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
            products=store.product_keys(session),
            refs=store.product_refs(session),
        )
