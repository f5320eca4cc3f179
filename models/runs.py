"""Runs: statuses, error codes, the run result, the review contract and their tables."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, field_validator
from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from models.masterdata import utcnow
from models.orders import Finding, OrderPayload


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    MANUAL_REVIEW = "MANUAL_REVIEW"
    SUCCESS = "SUCCESS"
    IGNORED = "IGNORED"
    UNKNOWN_CONTACT = "UNKNOWN_CONTACT"
    REJECTED = "REJECTED"
    REVIEW_EXPIRED = "REVIEW_EXPIRED"
    CONTRACT_PARSE_FAILED = "CONTRACT_PARSE_FAILED"
    ORDER_PAYLOAD_BLOCKED = "ORDER_PAYLOAD_BLOCKED"
    ERP_ORDER_FAILED = "ERP_ORDER_FAILED"
    FAILED = "FAILED"


class ErrorCode(StrEnum):
    MASTERDATA_INVALID = "MASTERDATA_INVALID"
    CONTACT_NOT_FOUND = "CONTACT_NOT_FOUND"
    NOT_CONTRACT_MAIL = "NOT_CONTRACT_MAIL"
    PDF_NOT_FOUND = "PDF_NOT_FOUND"
    CUSTOMER_MATCH_LOW_SCORE = "CUSTOMER_MATCH_LOW_SCORE"
    CUSTOMER_CONTACT_MISMATCH = "CUSTOMER_CONTACT_MISMATCH"
    SENDER_NOT_AUTHENTICATED = "SENDER_NOT_AUTHENTICATED"
    FILE_UPLOAD_FAILED = "FILE_UPLOAD_FAILED"
    DIFY_CONTRACT_FAILED = "DIFY_CONTRACT_FAILED"
    DIFY_ORDER_PAYLOAD_BLOCKED = "DIFY_ORDER_PAYLOAD_BLOCKED"
    ERP_CREATE_FAILED = "ERP_CREATE_FAILED"
    UNSUPPORTED_ATTACHMENT = "UNSUPPORTED_ATTACHMENT"
    PARSE_TIMEOUT = "PARSE_TIMEOUT"  # a mail the parser could not read within its budget


class RunError(BaseModel):
    code: str
    message: str
    step: str = ""


class Candidate(BaseModel):
    customer_id: str
    customer_num: str = ""
    name: str
    score: float


class ReviewInfo(BaseModel):
    """What a reviewer needs to decide. A customer review: why, the candidates and the contact's
    own customer. An order review: the guard's findings (the draft is the run's order_payload)."""

    kind: Literal["customer", "order"] = "customer"
    reason: str
    findings: list[Finding] = []
    candidates: list[Candidate] = []
    contact_customer_id: str = ""
    deadline: datetime | None = None
    decision: "ReviewDecision | None" = None


class ReviewDecision(BaseModel):
    """A reviewer's decision, sent by the `review` update or the `review_decision` signal."""

    decision: Literal["approve", "reject"]
    customer_id: str | None = None
    reviewer: str = ""  # over the API: the key's name (what is sent here becomes a comment)
    comment: str | None = None
    order_payload: OrderPayload | None = None  # an order review: the corrected draft to send

    @field_validator("reviewer")
    @classmethod
    def _reviewer_stripped(cls, value: str) -> str:
        return value.strip()

    def summary(self) -> str:
        """What was decided, for the audit of people (the customer, a correction, the comment)."""
        parts = [f"customer {self.customer_id}" if self.customer_id else ""]
        if self.order_payload is not None:
            parts.append(f"order corrected ({len(self.order_payload.lines)} lines)")
        parts.append(f"comment: {self.comment}" if self.comment else "")
        return "; ".join(p for p in parts if p)


class Learned(BaseModel):
    """One thing a run's review taught MCS (a masterdata row a person can see and delete)."""

    kind: Literal["product_ref", "customer_alias"] = "product_ref"
    ref_id: str  # a product reference's id, or the learned alias
    customer_id: str
    ref: str  # what the contract said
    product_code: str = ""  # ours (a product reference)
    active: bool  # false: proposed, waiting for approval


class ContractFile(BaseModel):
    """The attachment a run reads as its contract (its bytes are in the blob store)."""

    filename: str
    sha256: str
    content_type: str = "application/pdf"


class RunView(BaseModel):
    """A run as its readers see it: the `status` query, the memo of a run waiting for review,
    the workflow's result, the run API and the stored run records all carry this one shape."""

    workflow_id: str
    run_id: str = ""
    message_id: str = ""
    status: RunStatus = RunStatus.RUNNING
    step: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    idempotency_key: str = ""
    customer_id: str | None = None
    contact_id: str | None = None
    file_url: str | None = None
    sales_order_no: str | None = None
    order_url: str | None = None
    warnings: list[str] = []
    errors: list[RunError] = []
    review: ReviewInfo | None = None
    contract_no: str | None = None
    order_payload: OrderPayload | None = None  # the draft, while an order review waits and after
    subject: str = ""  # of the email: the inbox and the review page show it
    sender: str = ""
    received_at: datetime | None = None
    contract_file: ContractFile | None = None
    learned: list[Learned] = []  # what the run's reviews taught (product references)


class OrchestratorRunResult(RunView):
    """The run detail of the API: the run's view and its audit trail (from the database)."""

    audit: list["AuditEntry"] = []  # every step attempt


class AuditEntry(BaseModel):
    """One attempt of one step, as the run detail shows it (its detail redacted)."""

    step: str
    attempt: int
    outcome: str
    duration_ms: float
    error_code: str = ""
    detail: str = ""
    at: datetime | None = None


class SubmitAnswer(BaseModel):
    """The answer to an email submission."""

    workflow_id: str
    run_id: str
    status: RunStatus
    duplicate: bool


class RunRecord(SQLModel, table=True):
    """The last known result of each run, written by `finalize`."""

    __tablename__ = "runs"

    workflow_id: str = SQLField(primary_key=True)
    run_id: str = ""
    message_id: str = SQLField(default="", index=True)
    status: str = SQLField(default=RunStatus.RUNNING, index=True)
    customer_id: str | None = SQLField(default=None, index=True)
    sales_order_no: str | None = None
    result: dict[str, object] = SQLField(default_factory=dict, sa_column=Column(JSON))
    updated_at: datetime = SQLField(
        default_factory=utcnow, sa_type=DateTime(timezone=True), index=True
    )  # when the run finished, for GET /v1/stats
    blobs: list[str] = SQLField(default_factory=list, sa_column=Column(JSON))  # its files' sha256
    purged_at: datetime | None = SQLField(default=None, sa_type=DateTime(timezone=True))

    @staticmethod
    def columns(view: RunView) -> dict[str, Any]:
        """The columns holding the run as `view` shows it (those searched by, and the view)."""
        return {
            "run_id": view.run_id, "message_id": view.message_id, "status": str(view.status),
            "customer_id": view.customer_id, "sales_order_no": view.sales_order_no,
            "result": view.model_dump(mode="json"), "updated_at": utcnow(),
        }  # fmt: skip

    def keep(self, view: RunView) -> None:
        """Hold the run as `view` shows it."""
        for name, value in self.columns(view).items():
            setattr(self, name, value)

    def view(self) -> RunView:
        return RunView.model_validate(self.result)


class IdempotencyRecord(SQLModel, table=True):
    """A successful order per idempotency key: a repeated email short-circuits to it."""

    __tablename__ = "idempotency_records"

    key: str = SQLField(primary_key=True)
    workflow_id: str
    sales_order_no: str
    result: dict[str, object] = SQLField(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=DateTime(timezone=True))

    def view(self) -> RunView:
        """The run that made the order, as it ended."""
        return RunView.model_validate(self.result)


class OrderedContract(SQLModel, table=True):
    """A contract claimed by the run ordering it (at the order guard, `sales_order_no` still
    empty), then the ERP order it became: the same (customer, contract no.) again is a finding."""

    __tablename__ = "ordered_contracts"

    customer_id: str = SQLField(primary_key=True)
    contract_no: str = SQLField(primary_key=True)
    workflow_id: str = SQLField(index=True)
    sales_order_no: str
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=DateTime(timezone=True))


class AuditEvent(SQLModel, table=True):
    """One executed step attempt: who, what, how long, how it ended."""

    __tablename__ = "audit_events"

    id: int | None = SQLField(default=None, primary_key=True)
    workflow_id: str = SQLField(index=True)
    run_id: str = ""
    step: str
    attempt: int = 1
    outcome: str
    duration_ms: float = 0.0
    error_code: str = ""
    detail: str = ""
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=DateTime(timezone=True))


class UnknownSender(SQLModel, table=True):
    """A sender no contact has: when the reviewers were last mailed about it, and how many of its
    mails came since without a mail (at most one per MCS_UNKNOWN_SENDER_MAIL_EVERY)."""

    __tablename__ = "unknown_senders"

    sender: str = SQLField(primary_key=True)
    mailed_at: datetime = SQLField(sa_type=DateTime(timezone=True))
    unmailed: int = 0
