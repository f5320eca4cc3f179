"""The human review of SalesEmailWorkflow: the decision handlers and the wait for them."""

from datetime import datetime, timedelta
from typing import Any, NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.matching import MatchingActivities
    from models.results import ContactMatch, CustomerMatch, MatchCustomerInput
    from models.runs import ErrorCode, OrchestratorRunResult, ReviewDecision, RunStatus
    from workflows import sales_email_steps as steps
    from workflows import search_attributes as sa

# Patch: a reminder to the reviewers at half the review timeout.
REVIEW_REMINDER = "review-reminder"


class ReviewMixin:
    """Review handlers and waiting, for a workflow that keeps the attributes declared here."""

    _state: OrchestratorRunResult
    _contact: ContactMatch
    _decision: ReviewDecision | None
    _sa: sa.Publisher

    @workflow.update
    def review(self, decision: ReviewDecision) -> ReviewDecision:
        """Decide a pending customer review (approve, optionally naming the customer, or reject)."""
        self._decision = decision
        return decision

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        steps.validate_review(self._state, self._decision, decision)

    @workflow.signal
    def review_decision(self, decision: ReviewDecision) -> None:
        """The same decision as a signal, for the Web UI and `temporal workflow signal`."""
        try:
            steps.validate_review(self._state, self._decision, decision)
        except ValueError as error:
            workflow.logger.warning("review signal ignored: %s", error)
            return
        self._decision = decision

    async def _review(self, match: CustomerMatch, ask: MatchCustomerInput) -> CustomerMatch:
        """Wait for a reviewer; approve continues with the chosen customer."""
        timeout = timedelta(seconds=match.review_timeout_seconds)
        deadline = (workflow.now() + timeout).isoformat()
        self._state.review = steps.review_info(match, self._contact, deadline)
        self._state.status = RunStatus.MANUAL_REVIEW
        self._upsert()
        await self._notify("manual_review", [], include_reviewers=True)
        if self._sa.lean:
            self._upsert()
        try:
            await self._wait_for_decision(workflow.now() + timeout)
        except TimeoutError:
            self._end(RunStatus.REVIEW_EXPIRED, match.reason, "no review decision in time")
        decision = self._decision
        assert decision is not None and self._state.review is not None
        self._state.review.decision = decision
        if decision.decision == "reject":
            self._end(RunStatus.REJECTED, match.reason, f"rejected by {decision.reviewer}")
        self._state.status = RunStatus.RUNNING
        if decision.customer_id and decision.customer_id != match.customer_id:
            chosen = MatchCustomerInput(
                **{**ask.__dict__, "chosen_customer_id": decision.customer_id}
            )
            match = await self._local("match_customer", MatchingActivities.match_customer, chosen)
        self._set_customer(match.customer_id)
        return match

    async def _wait_for_decision(self, deadline: datetime) -> None:
        """Wait until a decision or the deadline; remind the reviewers half-way (new runs)."""
        if workflow.patched(REVIEW_REMINDER):
            half = (deadline - workflow.now()) / 2
            try:
                await workflow.wait_condition(
                    self._decided, timeout=half, timeout_summary="reminder"
                )
                return
            except TimeoutError:
                await self._notify("review_reminder", [], include_reviewers=True)
                if self._sa.lean:
                    self._upsert()
        remaining = max(deadline - workflow.now(), timedelta(seconds=1))
        await workflow.wait_condition(self._decided, timeout=remaining, timeout_summary="review")

    def _decided(self) -> bool:
        return self._decision is not None

    # provided by the workflow
    async def _notify(self, kind: str, to: list[str], include_reviewers: bool = False) -> None:
        raise NotImplementedError

    async def _local(self, step: str, fn: Any, *args: Any) -> Any:
        raise NotImplementedError

    def _upsert(self) -> None:
        raise NotImplementedError

    def _set_customer(self, customer_id: str | None) -> None:
        raise NotImplementedError

    def _end(self, status: RunStatus, code: ErrorCode | None, message: str) -> NoReturn:
        raise NotImplementedError
