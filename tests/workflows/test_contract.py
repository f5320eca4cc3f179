"""The run contract and the worker agree: the names the API and the CLI use are the names the
workflow is registered under, and every step is the activity of its name."""

from temporalio import activity, workflow

from activities.dify import DifyActivities
from activities.erp import ErpActivities
from activities.files import FileActivities
from activities.masterdata import MasterdataActivities
from activities.matching import MatchingActivities
from activities.notify import NotifyActivities
from activities.orders import OrderActivities
from activities.runs import RunActivities
from models import run_contract as contract
from models.steps import Step
from workflows.blob_retention import BlobRetentionWorkflow
from workflows.mailbox_poll import MailboxPollWorkflow
from workflows.sales_email import SalesEmailWorkflow

CLASSES = (
    RunActivities, MasterdataActivities, MatchingActivities, FileActivities, DifyActivities,
    OrderActivities, ErpActivities, NotifyActivities,
)  # fmt: skip


def test_the_workflows_are_registered_under_the_contracts_names() -> None:
    run = workflow._Definition.must_from_class(SalesEmailWorkflow)
    assert run.name == contract.WORKFLOW
    assert set(run.queries) == {contract.STATUS_QUERY}
    assert set(run.updates) == {contract.REVIEW_UPDATE}
    assert set(run.signals) == {contract.REVIEW_SIGNAL}
    assert run.updates[contract.REVIEW_UPDATE].validator is not None
    for cls, name in ((MailboxPollWorkflow, contract.MAILBOX_POLL_WORKFLOW),
                      (BlobRetentionWorkflow, contract.BLOB_RETENTION_WORKFLOW)):  # fmt: skip
        assert workflow._Definition.must_from_class(cls).name == name


def test_every_step_is_the_activity_of_its_name() -> None:
    """Steps.run takes a step's name from its activity, and a reset finds the step's activity
    in a history by that name: the two must be one."""
    names = {
        activity._Definition.must_from_callable(getattr(cls, attr)).name
        for cls in CLASSES
        for attr in dir(cls)
        if activity._Definition.from_callable(getattr(cls, attr)) is not None
    }
    assert {str(step) for step in Step} <= names


def test_the_refused_correction_type_is_the_rules_error() -> None:
    from workflows.sales_email_rules import DraftHasFindings

    assert DraftHasFindings.__name__ == contract.DRAFT_HAS_FINDINGS


def test_the_worker_registers_every_steps_activity() -> None:
    """A step whose activity the worker lacks fails its workflow task for ever."""
    import ast
    from pathlib import Path

    source = (Path(__file__).parent.parent.parent / "worker.py").read_text()
    listed = {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }
    assert {str(step) for step in Step} <= listed
