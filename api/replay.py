"""Replaying a run: start it again with its original input, or reset it to a step."""

import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from models import run_contract as contract
from models.email import EmailEvent
from models.errors import Conflict, NotFound
from models.runs import RunStatus, SubmitAnswer
from models.steps import Step


class ReplayError(Conflict):
    """The replay cannot be done as asked (the run's state does not allow it)."""


async def original_input(client: Client, history: WorkflowHistory) -> EmailEvent:
    """The EmailEvent the run was started with (from its first history event)."""
    started = history.events[0].workflow_execution_started_event_attributes
    [event] = await client.data_converter.decode(started.input.payloads, [EmailEvent])
    if not isinstance(event, EmailEvent):
        raise ReplayError("the run's input is not an EmailEvent")
    return event


def reset_point(history: WorkflowHistory, step: str) -> int:
    """The workflow task that first scheduled `step` (a reset there runs the step again)."""
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == step:
                return attributes.workflow_task_completed_event_id
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            data = marker.details.get("data")
            if data is not None and f'"{step}"'.encode() in b"".join(p.data for p in data.payloads):
                return marker.workflow_task_completed_event_id
    raise ReplayError(f"the run never reached step {step!r}")


async def replay(
    client: Client, workflow_id: str, from_step: str | None, task_queue: str
) -> SubmitAnswer:
    """A finished run starts again (same id, same input); `from_step` resets the last run there."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        history = await handle.fetch_history()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"no run {workflow_id}") from error
        raise
    if from_step is None:
        description = await handle.describe()
        if description.close_time is None:
            raise ReplayError("the run is still open: replay it from a step, or wait until it ends")
        event = await original_input(client, history)
        new = await client.start_workflow(
            contract.WORKFLOW, event, id=workflow_id, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )  # fmt: skip
        return SubmitAnswer(
            workflow_id=workflow_id,
            run_id=new.result_run_id or "",
            status=RunStatus.RUNNING,
            duplicate=False,
        )
    if from_step not in set(Step):
        raise ReplayError(f"unknown step {from_step!r}; steps are {', '.join(Step)}")
    run_id = (await handle.describe()).run_id
    request = ResetWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        reason=f"replay from {from_step}",
        workflow_task_finish_event_id=reset_point(history, from_step),
        request_id=str(uuid.uuid4()),
        reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
    )
    answer = await client.workflow_service.reset_workflow_execution(request)
    return SubmitAnswer(
        workflow_id=workflow_id, run_id=answer.run_id, status=RunStatus.RUNNING, duplicate=False
    )
