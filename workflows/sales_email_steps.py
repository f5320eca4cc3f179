"""How the steps of a sales-email run are executed: one typed helper, by each step's policy.
Workflow code: deterministic only."""

from collections.abc import Callable
from typing import Any, TypeVar, overload

from temporalio import workflow
from temporalio.types import MethodAsyncSingleParam, MethodSyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities
    from models.results import NotifyInput
    from models.steps import Step
    from workflows import policies
    from workflows import sales_email_rules as rules
    from workflows.sales_email_state import RunState

I = TypeVar("I")  # noqa: E741 - a step's input
O = TypeVar("O")  # noqa: E741 - a step's result


class Steps:
    """Runs a run's steps: local or remote activity, timeout and retries by the step's policy."""

    def __init__(self, state: RunState) -> None:
        self._state = state

    @overload
    async def run(self, activity: MethodAsyncSingleParam[Any, I, O], arg: I) -> O: ...

    @overload
    async def run(self, activity: MethodSyncSingleParam[Any, I, O], arg: I) -> O: ...

    async def run(self, activity: Callable[..., Any], arg: Any) -> Any:
        """Run the step of `activity` (its name is the step's: a reset to a step finds the step's
        activity in the history by it); a failure is raised, for the caller to say what ends."""
        step = Step(activity.__name__)
        rule = policies.POLICIES[step]
        self._state.enter(step, visible=rule.remote)
        if rule.remote:
            return await workflow.execute_activity_method(
                activity,
                arg,
                start_to_close_timeout=rule.timeout,
                heartbeat_timeout=rule.heartbeat,
                retry_policy=rule.retry,
            )
        return await workflow.execute_local_activity_method(
            activity, arg, start_to_close_timeout=rule.timeout, retry_policy=rule.retry
        )

    async def notify(self, kind: str, to: list[str], include_reviewers: bool = False) -> None:
        """Send a mail; a failure becomes a warning, never a failed run. The outcome is visible
        before the mail, and the mail is not shown as the run's step."""
        state = self._state
        step = state.step
        state.publish()
        notice = NotifyInput(
            kind=kind,
            to=to,
            workflow_id=state.workflow_id,
            include_reviewers=include_reviewers,
            context=rules.mail_context(state),
        )
        try:
            await self.run(NotifyActivities.notify_sales, notice)
        except rules.STEP_ERRORS as error:
            state.warnings.append(f"notification {kind} failed: {rules.cause_of(error)}")
        state.enter(step, visible=False)
