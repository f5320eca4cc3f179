"""One input and one result type per workflow step (all small: no bytes, no whole masterdata)."""

from dataclasses import dataclass, field
from decimal import Decimal

from models.email import EmailAttachment
from models.orders import Finding, GuardContext, Lenient, OrderPayload
from models.runs import Candidate, ErrorCode, Learned, ReviewDecision, RunView


class ContractMeta(Lenient):
    contract_no: str = ""
    customer_name: str = ""
    sign_date: str = ""
    currency: str = ""
    total_amount: Decimal | None = None


class ContractItem(Lenient):
    product_code: str = ""
    product_name: str = ""
    quantity: Decimal = Decimal(0)
    unit: str = ""
    unit_price: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class IdempotencyInput:
    key: str


@dataclass(frozen=True, kw_only=True)
class IdempotencyResult:
    stored: RunView | None = None


@dataclass(frozen=True, kw_only=True)
class MasterdataRequest:
    """The masterdata a run matches against: the current snapshot (nothing to choose)."""


@dataclass(frozen=True, kw_only=True)
class MasterdataInfo:
    version: int
    checksum: str
    customers: int
    contacts: int


@dataclass(frozen=True, kw_only=True)
class MatchContactInput:
    from_email: str
    version: int
    auth_results: list[str] = field(default_factory=list)  # the mail's Authentication-Results
    sender_problem: str = ""  # what is wrong with the From: (the intake found it)


@dataclass(frozen=True, kw_only=True)
class ContactMatch:
    contact_id: str | None = None
    customer_id: str = ""
    name: str = ""
    email: str = ""
    sales_email: str | None = None
    sender_authenticated: bool | None = None  # False: the From: may be forged (review it)


@dataclass(frozen=True, kw_only=True)
class SignalInput:
    """`attachments`: all of them, to choose the contract among."""

    subject: str
    body_text: str
    attachments: list[EmailAttachment]
    version: int


@dataclass(frozen=True, kw_only=True)
class ContractSignal:
    """`contract`: the attachment chosen as the contract, with the file type Dify reads it as."""

    is_contract: bool
    reason: ErrorCode | None = None
    keyword: str = ""
    contract: EmailAttachment | None = None
    file_type: str = "document"
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class MatchCustomerInput:
    filename: str
    contact_customer_id: str
    version: int
    chosen_customer_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CustomerMatch:
    customer_id: str | None
    customer_num: str = ""
    customer_name: str = ""
    score: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)
    needs_review: bool = False
    reason: ErrorCode | None = None
    review_timeout_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class UploadInput:
    sha256: str
    filename: str
    content_type: str = "application/pdf"


@dataclass(frozen=True, kw_only=True)
class UploadResult:
    file_id: str
    file_url: str


@dataclass(frozen=True, kw_only=True)
class ContractInput:
    file_url: str
    filename: str
    customer_id: str
    customer_num: str
    file_type: str = "document"  # Dify's file type: document or image


@dataclass(frozen=True, kw_only=True)
class ContractResult:
    ok: bool
    reason: str = ""
    contract_meta: ContractMeta | None = None
    items: list[ContractItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class OrderPayloadInput:
    customer: dict[str, str]
    contact: dict[str, str]
    contract_meta: ContractMeta
    items: list[ContractItem]
    file_url: str
    message_id: str
    file_type: str = "document"


@dataclass(frozen=True, kw_only=True)
class OrderPayloadResult:
    ok: bool
    reason: str = ""
    order_payload: OrderPayload | None = None


@dataclass(frozen=True, kw_only=True)
class OrderCheckInput:
    """A draft and the run's facts it is checked against (the step adds the settings);
    `duplicates`: also look for an earlier order of the same contract (not again for a
    reviewer's correction: the reviewer has seen that finding)."""

    draft: OrderPayload
    context: GuardContext
    contract_no: str
    workflow_id: str
    duplicates: bool = True
    version: int | None = None  # the masterdata version the run matches against


@dataclass(frozen=True, kw_only=True)
class OrderCheckResult:
    """The guard's findings, and the order the ERP would receive (for the run's customer)."""

    findings: list[Finding] = field(default_factory=list)
    payload: OrderPayload | None = None
    dropped: list[str] = field(default_factory=list)  # fields of the draft that are not sent
    context: GuardContext | None = None  # with the settings' tolerance and currencies
    review_timeout_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ErpInput:
    order_payload: OrderPayload
    message_id: str
    workflow_id: str
    idempotency_key: str


@dataclass(frozen=True, kw_only=True)
class ErpResult:
    sales_order_no: str
    order_url: str = ""


@dataclass(frozen=True, kw_only=True)
class NotifyInput:
    kind: str
    to: list[str]
    workflow_id: str
    include_reviewers: bool = False
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class NotifyResult:
    message_id: str
    recipients: int


@dataclass(frozen=True, kw_only=True)
class FinalizeInput:
    result: RunView
    blobs: list[str] = field(default_factory=list)  # the run's files, for the retention
    # review decisions taken by signal (the Web UI): audited with the name typed, as unverified
    signalled: list[ReviewDecision] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PurgeInput:
    retention_seconds: float


@dataclass(frozen=True, kw_only=True)
class PurgeResult:
    runs: int  # finished runs whose files were looked at
    blobs: int  # files removed


@dataclass(frozen=True, kw_only=True)
class Taught:
    """What a reviewer's correction taught: the customer's code for one of our products."""

    said: str  # what the contract said (the customer's code)
    product_code: str  # ours, as the reviewer chose it


@dataclass(frozen=True, kw_only=True)
class LearnInput:
    customer_id: str
    workflow_id: str
    reviewer: str
    taught: list[Taught] = field(default_factory=list)
    alias_from: str = ""  # a contract file name whose customer name matched no customer well


@dataclass(frozen=True, kw_only=True)
class LearnResult:
    learned: list[Learned] = field(default_factory=list)
