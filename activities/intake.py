"""Starting the run of an accepted email: one workflow per Message-ID, never two."""

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.email import EmailEvent, workflow_id_for
from models.runs import OrchestratorRunResult, RunStatus, SubmitAnswer
from workflows import search_attributes as sa
from workflows.sales_email import SalesEmailWorkflow


async def start_run(client: Client, event: EmailEvent, task_queue: str) -> SubmitAnswer:
    """Start the email's workflow; a second submission attaches to the first run."""
    workflow_id = workflow_id_for(event.message_id)
    try:
        handle: WorkflowHandle[
            SalesEmailWorkflow, OrchestratorRunResult
        ] = await client.start_workflow(
            SalesEmailWorkflow.run,
            event,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return await describe_duplicate(client, workflow_id)
    run_id = handle.result_run_id or ""
    return SubmitAnswer(
        workflow_id=workflow_id, run_id=run_id, status=RunStatus.RUNNING, duplicate=False
    )


async def describe_duplicate(client: Client, workflow_id: str) -> SubmitAnswer:
    """The answer for an email whose run exists already."""
    description = await client.get_workflow_handle(workflow_id).describe()
    status = description.typed_search_attributes.get(sa.STATUS)
    if status is None:
        running = description.status == WorkflowExecutionStatus.RUNNING
        status = RunStatus.RUNNING if running else RunStatus.FAILED
    return SubmitAnswer(
        workflow_id=workflow_id, run_id=description.run_id, status=RunStatus(status), duplicate=True
    )
