"""Masterdata as matching reads it: one snapshot per masterdata version, indexed and cached."""

import asyncio
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
        if version is not None and (cached := self.held(version)) is not None:
            return cached
        with self.engine.connect() as connection:  # one small read: no ORM session
            version = store.current(connection)
        if (cached := self.held(version)) is not None:
            return cached
        with self._lock, Session(self.engine) as session:
            version = store.current(session)  # read again: the version the load reads with
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = self._load(session, version)
            return self._snapshot

    def held(self, version: int) -> Snapshot | None:
        """The snapshot of `version` when it is the one held (no database read)."""
        cached = self._snapshot
        return cached if cached is not None and cached.version == version else None

    async def at(self, version: int) -> Snapshot:
        """`get` for a step on the event loop: the held snapshot at once, else read in a thread."""
        cached = self.held(version)
        return cached if cached is not None else await asyncio.to_thread(self.get, version)

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
