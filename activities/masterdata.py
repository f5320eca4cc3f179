"""Masterdata for the workflow: the snapshot's version, and the sender among the contacts."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from mail.sender_auth import authenticated, verdict
from matching.snapshot import MasterdataCache
from models.errors import ErrorType
from models.results import ContactMatch, MasterdataInfo, MasterdataRequest, MatchContactInput
from settings import Settings


class MasterdataActivities:
    """Reads masterdata for the workflow; only ids and small facts go back into history."""

    def __init__(self, cache: MasterdataCache, settings: Settings | None = None) -> None:
        self._cache = cache
        self._settings = settings or Settings()

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
    def match_contact(self, input: MatchContactInput) -> ContactMatch:
        """Find the sender among the known contacts (exact, case-insensitive email)."""
        contact = self._cache.get(input.version).contacts_by_email.get(
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
