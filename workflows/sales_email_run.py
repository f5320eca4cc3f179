"""The bookkeeping of one sales-email run (its state and search attributes) and how its steps are
executed (local or remote activities, by their policy). Workflow code: deterministic only."""

from collections.abc import Callable
from typing import Any, NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities
    from models.email import EmailEvent, idempotency_key
    from models.orders import GuardContext
    from models.results import NotifyInput
    from models.runs import ErrorCode, OrchestratorRunResult, RunError, RunStatus
    from models.steps import Step
    from workflows import policies
    from workflows import sales_email_rules as rules
    from workflows import search_attributes as sa


class Stop(Exception):
    """Ends the run early; the outcome is already in the state."""


class RunBook:
    """The run as it stands (the `status` query's answer) and its search attributes."""

    def __init__(self) -> None:
        self.state = OrchestratorRunResult(workflow_id="")
        self.event: EmailEvent | None = None
        self.facts: dict[str, str] = {}  # shown in mails, not part of the run result
        self.duplicate = False
        self.sa = sa.Publisher(lean=True, merged=True)
        self.guard: GuardContext | None = None  # what a corrected order is checked against

    def begin(self, event: EmailEvent, publisher: sa.Publisher) -> None:
        info = workflow.info()
        pdf = event.pdf
        self.event, self.sa = event, publisher
        self.state = OrchestratorRunResult(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            message_id=event.message_id,
            started_at=workflow.now(),
            idempotency_key=idempotency_key(event.message_id, pdf.sha256 if pdf else ""),
        )
        self.sa.message_id(event.message_id)

    def enter(self, step: str, visible: bool = True) -> None:
        """Record the current step; visible steps are also published as search attributes."""
        self.state.step = str(step)
        if visible or not self.sa.lean:
            self.publish()

    def publish(self, memo: bool = False) -> None:
        """The status, step and customer as search attributes; with `memo`, the whole run as it
        waits for a review, as the memo `sa.WAITING` (describe reads it; no worker needs to
        answer a query for it)."""
        self.sa.state(self.state.status, self.state.step, self.state.customer_id)
        if memo:
            workflow.upsert_memo({sa.WAITING: self.state})

    def set_customer(self, customer_id: str | None) -> None:
        self.state.customer_id = customer_id
        self.sa.customer(customer_id)

    def adopt(self, stored: OrchestratorRunResult) -> NoReturn:
        """Short-circuit to the order this email already produced."""
        keep = {"workflow_id", "run_id", "started_at", "message_id"}
        self.state = stored.model_copy(update={k: getattr(self.state, k) for k in keep})
        self.state.warnings.append(f"duplicate of {stored.workflow_id}: order already created")
        self.duplicate = True
        raise Stop()

    def record(self, status: RunStatus, code: ErrorCode | str | None, message: str) -> None:
        self.state.status = status
        error = RunError(code=code or "UNEXPECTED", message=message, step=self.state.step)
        self.state.errors.append(error)

    def end(self, status: RunStatus, code: ErrorCode | str | None, message: str) -> NoReturn:
        self.record(status, code, message)
        raise Stop()


class Steps:
    """Executes the steps of a run by their policy; `local_notify`: mails by a local activity."""

    def __init__(self, book: RunBook, local_notify: bool) -> None:
        self._book = book
        self._local_notify = local_notify

    async def run(self, step: Step, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a step; a step whose policy names an outcome ends the run with it on failure."""
        rule = policies.policy(step)
        try:
            if not rule.remote:
                return await self._local(step, rule, fn, *args)
            self._book.enter(step)
            return await workflow.execute_activity_method(
                fn,
                *args,
                start_to_close_timeout=rule.timeout,
                heartbeat_timeout=rule.heartbeat,
                retry_policy=rule.retry,
            )
        except rules.STEP_ERRORS as error:
            if rule.ends is None:
                raise
            self._book.end(*rule.ends, rules.cause_of(error))

    async def _local(
        self, step: Step, rule: policies.StepPolicy, fn: Callable[..., Any], *args: Any
    ) -> Any:
        self._book.enter(step, visible=False)
        return await workflow.execute_local_activity_method(
            fn, args=args, start_to_close_timeout=rule.timeout, retry_policy=rule.retry
        )

    async def notify(self, kind: str, to: list[str], include_reviewers: bool = False) -> None:
        """Send a mail; a failure becomes a warning, never a failed run."""
        book, rule = self._book, policies.policy(Step.NOTIFY_SALES)
        step = book.state.step
        if book.sa.merged:  # the outcome is visible before the mail; the mail is not a step
            book.publish()
        book.enter(Step.NOTIFY_SALES, visible=not book.sa.merged)
        notice = NotifyInput(
            kind=kind,
            to=to,
            workflow_id=book.state.workflow_id,
            include_reviewers=include_reviewers,
            context=rules.mail_context(book.state, book.event, book.facts),
        )
        try:
            if self._local_notify:
                await workflow.execute_local_activity_method(
                    NotifyActivities.notify_sales,
                    notice,
                    start_to_close_timeout=rule.timeout,
                    retry_policy=rule.retry,
                )
            else:
                await workflow.execute_activity_method(
                    NotifyActivities.notify_sales,
                    notice,
                    start_to_close_timeout=rule.timeout,
                    retry_policy=rule.retry,
                )
        except rules.STEP_ERRORS as error:
            book.state.warnings.append(f"notification {kind} failed: {rules.cause_of(error)}")
        book.enter(step, visible=False)
