"""Deciding what an email is: the contract signal, and the fuzzy customer match of its PDF."""

import unicodedata

from temporalio import activity
from temporalio.exceptions import ApplicationError

from matching.index import CustomerIndex
from matching.snapshot import MasterdataCache
from models.email import READABLE, EmailAttachment
from models.errors import ErrorType
from models.results import ContractSignal, CustomerMatch, MatchCustomerInput, SignalInput
from models.runs import ErrorCode
from settings import Settings

CONTRACT_WORDS = ("合同", "订单", "contract", "purchase order")


class MatchingActivities:
    """The cheap deciding steps; run as local activities, on the event loop (in memory, they
    cost less than the hop to a thread would)."""

    def __init__(self, cache: MasterdataCache, settings: Settings) -> None:
        self._cache = cache
        self._settings = settings
        self._keywords = [unicodedata.normalize("NFKC", k) for k in settings.contract_keywords]

    @activity.defn
    async def detect_contract_signal(self, input: SignalInput) -> ContractSignal:
        """A contract email names a contract keyword and carries a contract file we can read."""
        text = unicodedata.normalize("NFKC", f"{input.subject}\n{input.body_text}")
        keyword = next((k for k in self._keywords if k and k in text), "")
        if not keyword:
            return ContractSignal(is_contract=False, reason=ErrorCode.NOT_CONTRACT_MAIL)
        if not input.attachments:
            return ContractSignal(
                is_contract=False, reason=ErrorCode.PDF_NOT_FOUND, keyword=keyword
            )
        return self._choose(input, keyword, (await self._cache.at(input.version)).index)

    def _choose(self, input: SignalInput, keyword: str, index: CustomerIndex) -> ContractSignal:
        """The contract among the attachments: a contract word in its name or the best customer
        match wins, then a PDF, then the largest; the others are named in the warnings."""
        readable = [a for a in input.attachments if a.readable]
        if not readable:
            return ContractSignal(
                is_contract=False, reason=ErrorCode.UNSUPPORTED_ATTACHMENT, keyword=keyword
            )

        def rank(attachment: EmailAttachment) -> tuple[bool, float, bool, int]:
            name = unicodedata.normalize("NFKC", attachment.filename).lower()
            named = any(word in name for word in (*self._keywords, *CONTRACT_WORDS))
            best = index.match(attachment.filename, limit=1)
            score = best[0].score if best else 0.0
            return named, score, attachment.is_pdf, attachment.size

        chosen = max(readable, key=rank)
        others = [a.filename for a in input.attachments if a is not chosen]
        warnings = [f"contract read from {chosen.filename}; not read: {', '.join(others)}"]
        return ContractSignal(
            is_contract=True,
            keyword=keyword,
            contract=chosen,
            file_type=READABLE[chosen.content_type][0],
            warnings=warnings if others else [],
        )

    @activity.defn
    async def match_customer(self, input: MatchCustomerInput) -> CustomerMatch:
        """Fuzzy-match the PDF name to a customer and check it against the contact's customer."""
        index = (await self._cache.at(input.version)).index
        if input.chosen_customer_id is not None:
            return self._chosen(index, input.chosen_customer_id)
        candidates = index.match(input.filename)
        timeout = self._settings.review_timeout.total_seconds()
        if not candidates:
            return CustomerMatch(
                customer_id=None,
                needs_review=True,
                reason=ErrorCode.CUSTOMER_MATCH_LOW_SCORE,
                review_timeout_seconds=timeout,
            )
        best = candidates[0]
        reason = None
        if best.score < self._settings.customer_match_threshold:
            reason = ErrorCode.CUSTOMER_MATCH_LOW_SCORE
        elif best.customer_id != input.contact_customer_id:
            reason = ErrorCode.CUSTOMER_CONTACT_MISMATCH
        return CustomerMatch(
            customer_id=best.customer_id,
            customer_num=best.customer_num,
            customer_name=best.name,
            score=best.score,
            candidates=candidates,
            needs_review=reason is not None,
            reason=reason,
            review_timeout_seconds=timeout,
        )

    @staticmethod
    def _chosen(index: CustomerIndex, customer_id: str) -> CustomerMatch:
        """The customer a reviewer named, resolved against the current masterdata."""
        customer = index.customer(customer_id)
        if customer is None:
            raise ApplicationError(
                f"customer {customer_id!r} does not exist",
                type=ErrorType.UNKNOWN_CUSTOMER,
                non_retryable=True,
            )
        return CustomerMatch(
            customer_id=customer.customer_id,
            customer_num=customer.customer_num,
            customer_name=customer.name,
            score=100.0,
        )
