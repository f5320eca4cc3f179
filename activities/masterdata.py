"""Masterdata for the workflow: the snapshot's version, the sender among the contacts, and what
a review taught (product references, as MCS_LEARN_FROM_REVIEWS says)."""

import hashlib

from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from mail.sender_auth import authenticated, verdict
from matching.index import normalise_filename
from matching.snapshot import MasterdataCache
from models import masterdata_store as store
from models.errors import ErrorType
from models.masterdata import (
    Customer,
    CustomerBase,
    LearnedAlias,
    ProductRef,
    ProductRefBase,
    utcnow,
)
from models.orders import product_key
from models.results import (
    ContactMatch,
    LearnInput,
    LearnResult,
    MasterdataInfo,
    MasterdataRequest,
    MatchContactInput,
    Taught,
)
from models.runs import Learned
from settings import Settings
from telemetry.actions import record
from telemetry.metrics import LEARNED_REFS


def _audit(session: Session, reviewer: str, target: str, summary: str, mode: str) -> None:
    state = "active" if mode == "auto" else "proposed"
    record(session, reviewer, "masterdata.learned", target, f"{summary} ({state})")


class MasterdataActivities:
    """Reads masterdata for the workflow; only ids and small facts go back into history."""

    def __init__(self, cache: MasterdataCache, settings: Settings | None = None) -> None:
        self._cache = cache
        self._settings = settings or Settings()

    @activity.defn
    def learn_from_review(self, input: LearnInput) -> LearnResult:
        """Record what a review taught: a correction's codes as the customer's product
        references, a chosen customer's unmatched name as its learned alias; active (`auto`),
        proposed (`propose`) or not at all (`off`). Each is an audit row; what the customer has
        already is left as it is (retries add nothing)."""
        mode = self._settings.learn_from_reviews
        if mode == "off":
            return LearnResult()
        with Session(self._cache.engine) as session:
            learned = [self._reference(session, input, lesson, mode) for lesson in input.taught]
            if input.alias_from:
                learned.append(self._alias(session, input, mode))
        return LearnResult(learned=[one for one in learned if one is not None])

    @staticmethod
    def _reference(
        session: Session, input: LearnInput, lesson: Taught, mode: str
    ) -> Learned | None:
        """The customer's code `lesson.said` for our product, unless it has one for it."""
        key = f"{input.customer_id}|{product_key(lesson.said)}"
        ref_id = f"learned-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        if session.get(ProductRef, ref_id) is None:
            row = ProductRefBase(
                ref_id=ref_id, customer_id=input.customer_id, ref=lesson.said,
                product_code=lesson.product_code, source="learned", active=mode == "auto",
                learned_from=input.workflow_id, created_by=input.reviewer,
            )  # fmt: skip
            try:
                store.upsert(session, "product_refs", row)
            except store.MasterdataError:  # not a product, or the same ref already
                session.rollback()
                return None
            summary = f"{lesson.said} = {lesson.product_code} for {input.customer_id}"
            _audit(session, input.reviewer, f"product_refs/{ref_id}", summary, mode)
            LEARNED_REFS.labels("product_ref").inc()
        found = session.get(ProductRef, ref_id)
        if found is None or found.learned_from != input.workflow_id:
            return None
        return Learned(ref_id=ref_id, customer_id=input.customer_id, ref=found.ref,
                       product_code=found.product_code, active=found.active)  # fmt: skip

    def _alias(self, session: Session, input: LearnInput, mode: str) -> Learned | None:
        """The customer name of the contract file, as a learned alias of the chosen customer,
        unless some customer is known by that name already."""
        alias = normalise_filename(input.alias_from)
        customer = session.get(Customer, input.customer_id)
        if not alias or customer is None:
            return None
        row = CustomerBase.model_validate(customer)
        mine = next((a for a in row.learned_aliases if a.alias == alias), None)
        if mine is None:
            if self._cache.get().index.knows(alias):  # the current masterdata's names
                return None
            mine = LearnedAlias(
                alias=alias,
                active=mode == "auto",
                learned_from=input.workflow_id,
                created_by=input.reviewer,
                created_at=utcnow().isoformat(),
            )
            learned = [*row.learned_aliases, mine]
            store.upsert(session, "customers", row.model_copy(update={"learned_aliases": learned}))
            summary = f"{alias!r} = {input.customer_id}"
            _audit(session, input.reviewer, f"customers/{input.customer_id}", summary, mode)
            LEARNED_REFS.labels("customer_alias").inc()
        if mine.learned_from != input.workflow_id:
            return None
        return Learned(kind="customer_alias", ref_id=alias, customer_id=input.customer_id,
                       ref=alias, active=mine.active)  # fmt: skip

    @activity.defn
    def load_masterdata(self, input: MasterdataRequest) -> MasterdataInfo:
        """Load (or reuse) the current masterdata snapshot and report its version."""
        snapshot = self._cache.get()
        if not snapshot.customers or not snapshot.contacts_by_email:
            raise ApplicationError(
                "masterdata has no customers or no contacts",
                type=ErrorType.MASTERDATA_INVALID,
                non_retryable=True,
            )
        return MasterdataInfo(
            version=snapshot.version,
            checksum=snapshot.checksum,
            customers=len(snapshot.customers),
            contacts=len(snapshot.contacts_by_email),
        )

    @activity.defn
    async def match_contact(self, input: MatchContactInput) -> ContactMatch:
        """Find the sender among the known contacts (exact, case-insensitive email); on the
        event loop, as the matching steps: no thread for a lookup in memory."""
        contact = (await self._cache.at(input.version)).contacts_by_email.get(
            input.from_email.strip().lower()
        )
        if contact is None:
            return ContactMatch()
        settings = self._settings
        domain = input.from_email.rpartition("@")[2]
        found = verdict(input.auth_results, settings.trusted_authserv_ids, domain)
        mode = settings.sender_auth_mode
        return ContactMatch(
            contact_id=contact.contact_id,
            customer_id=contact.customer_id,
            name=contact.name,
            email=contact.email,
            sales_email=contact.sales_email,
            sender_authenticated=authenticated(found, mode, input.sender_problem),
        )
