"""The human review of a sales-email run: the decision taken by update or signal, and the wait."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.runs import ReviewDecision
    from workflows import sales_email_rules as rules
    from workflows.sales_email_state import RunState


class Review:
    """The decision a run waits for; the workflow's handlers hand it over here."""

    def __init__(self, state: RunState) -> None:
        self._state = state
        self.decision: ReviewDecision | None = None
        self.signalled: list[ReviewDecision] = []  # taken by signal: no key vouches for the name

    def validate(self, decision: ReviewDecision) -> None:
        """Raise ValueError unless the decision can be taken now (before history is written)."""
        rules.validate_review(self._state, self.decision, decision)

    def reset(self) -> None:
        """Wait for a new decision (a run may be reviewed more than once)."""
        self.decision = None

    def take(self, decision: ReviewDecision) -> ReviewDecision:
        self.decision = decision
        return decision

    def offer(self, decision: ReviewDecision) -> None:
        """A decision by signal: taken when valid, else logged and dropped (signals cannot fail)."""
        try:
            self.validate(decision)
        except ValueError as error:
            workflow.logger.warning("review signal ignored: %s", error)
            return
        self.signalled.append(decision)
        self.take(decision)

    async def wait(
        self, deadline: datetime, remind: Callable[[], Awaitable[None]]
    ) -> ReviewDecision:
        """The decision, once taken; TimeoutError at the deadline. Reminds half-way."""
        half = (deadline - workflow.now()) / 2
        try:
            await workflow.wait_condition(self._decided, timeout=half, timeout_summary="reminder")
            return self._taken()
        except TimeoutError:
            await remind()
        remaining = max(deadline - workflow.now(), timedelta(seconds=1))
        await workflow.wait_condition(self._decided, timeout=remaining, timeout_summary="review")
        return self._taken()

    def _decided(self) -> bool:
        return self.decision is not None

    def _taken(self) -> ReviewDecision:
        assert self.decision is not None
        return self.decision
