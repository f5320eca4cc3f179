"""The workflow's own state of one sales-email run, and the one place it becomes a `RunView`.

Workflow code: deterministic only. Readers (the `status` query, the review memo, the result, the
stored run record) get `view()`, never this object.
"""

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.email import EmailAttachment, EmailEvent, idempotency_key
    from models.orders import GuardContext, OrderPayload
    from models.results import ContactMatch
    from models.run_contract import WAITING_MEMO
    from models.runs import (
        ContractFile,
        ErrorCode,
        Learned,
        ReviewInfo,
        RunError,
        RunStatus,
        RunView,
    )
    from workflows.search_attributes import Publisher


class Ended(Exception):
    """Raised where a run ends early, with its outcome; only the workflow's `run` catches it."""

    def __init__(self, status: RunStatus, code: ErrorCode | str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class RunState:
    """What the run knows and has decided so far."""

    workflow_id: str = ""
    run_id: str = ""
    event: EmailEvent | None = None
    status: RunStatus = RunStatus.RUNNING
    step: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    idempotency_key: str = ""
    version: int = 0  # the masterdata version the run matches against
    contact: ContactMatch = field(default_factory=ContactMatch)
    contact_id: str | None = None
    customer_id: str | None = None
    customer_name: str = ""
    contract: EmailAttachment | None = None  # the attachment read as the contract
    file_type: str = "document"  # how Dify reads it: document or image
    file_url: str | None = None
    contract_no: str | None = None
    order_payload: OrderPayload | None = None  # the draft, once the guard has seen it
    guard: GuardContext | None = None  # what a corrected order is checked against
    sales_order_no: str | None = None
    order_url: str | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    review: ReviewInfo | None = None
    learned: list[Learned] = field(default_factory=list)
    duplicate: bool = False  # this email and PDF made an order in an earlier run
    publisher: Publisher = field(default_factory=Publisher)

    def begin(self, event: EmailEvent) -> None:
        info = workflow.info()
        pdf = event.pdf
        self.workflow_id, self.run_id, self.event = info.workflow_id, info.run_id, event
        self.started_at = workflow.now()
        self.idempotency_key = idempotency_key(event.message_id, pdf.sha256 if pdf else "")
        self.publisher.message_id(event.message_id)

    def enter(self, step: str, visible: bool) -> None:
        """Record the current step; visible steps (remote calls) are published as well."""
        self.step = str(step)
        if visible:
            self.publish()

    def publish(self, memo: bool = False) -> None:
        """The status, step and customer as search attributes; with `memo`, the whole view as the
        run waits for a review (describe and listings read it; no worker has to answer)."""
        self.publisher.state(self.status, self.step, self.customer_id)
        if memo:
            workflow.upsert_memo({WAITING_MEMO: self.view()})

    def record(self, status: RunStatus, code: ErrorCode | str | None, message: str) -> None:
        """The run's outcome, with the error of the step it ended at."""
        self.status = status
        self.errors.append(RunError(code=code or "UNEXPECTED", message=message, step=self.step))

    def adopt(self, stored: RunView) -> None:
        """Take the outcome of the earlier run whose order this email already produced."""
        for name in ADOPTED:
            setattr(self, name, getattr(stored, name))
        self.warnings = [
            *stored.warnings,
            f"duplicate of {stored.workflow_id}: order already created",
        ]
        self.errors = list(stored.errors)
        self.duplicate = True

    def view(self) -> RunView:
        """The run as its readers see it."""
        event, contract = self.event, self.contract
        return RunView(
            **{name: getattr(self, name) for name in VIEWED},
            warnings=list(self.warnings),
            errors=list(self.errors),
            message_id=event.message_id if event else "",
            subject=event.subject if event else "",
            sender=(event.from_ or event.from_email) if event else "",
            received_at=event.received_at if event else None,
            contract_file=ContractFile(
                filename=contract.filename,
                sha256=contract.sha256,
                content_type=contract.content_type,
            )
            if contract and contract.sha256
            else None,
        )


# What a duplicate takes over from the earlier run, and what a view shows as the state holds it.
ADOPTED = (
    "status", "step", "customer_id", "contact_id", "file_url", "sales_order_no", "order_url",
    "review", "contract_no", "order_payload",
)  # fmt: skip
VIEWED = (
    "workflow_id", "run_id", "status", "step", "started_at", "finished_at", "idempotency_key",
    "customer_id", "contact_id", "file_url", "sales_order_no", "order_url", "review",
    "contract_no", "order_payload", "learned",
)  # fmt: skip
