"""Pure helpers of SalesEmailWorkflow: review validation, step inputs, mail contexts."""

import dataclasses
from datetime import datetime

from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as StepTimeout

from models.email import EmailEvent
from models.orders import Finding, GuardContext, OrderPayload
from models.results import (
    ContactMatch,
    ContractResult,
    ContractSignal,
    CustomerMatch,
    FinalizeInput,
    OrderCheckInput,
    OrderPayloadInput,
    SignalInput,
)
from models.runs import ErrorCode, OrchestratorRunResult, ReviewDecision, ReviewInfo, RunStatus
from orders import guard

# What a failed step raises in the workflow: an activity raises ActivityError (the activity's
# error is its cause), a local activity raises the activity's error itself, or a TimeoutError.
STEP_ERRORS = (ActivityError, ApplicationError, StepTimeout)

OUTCOME_MAIL = {RunStatus.SUCCESS: "success", RunStatus.UNKNOWN_CONTACT: "unknown_contact"}
STATUS_TEXT = {
    RunStatus.SUCCESS: "order created",
    RunStatus.UNKNOWN_CONTACT: "unknown sender",
    RunStatus.REJECTED: "review rejected",
    RunStatus.REVIEW_EXPIRED: "review expired",
    RunStatus.CONTRACT_PARSE_FAILED: "contract not readable",
    RunStatus.ORDER_PAYLOAD_BLOCKED: "order draft blocked",
    RunStatus.ERP_ORDER_FAILED: "ERP refused the order",
    RunStatus.FAILED: "processing failed",
    RunStatus.IGNORED: "contract file not readable",
}


class DraftHasFindings(ValueError):
    """A corrected order still has findings (the API answers 422)."""


def validate_review(
    state: OrchestratorRunResult,
    pending: ReviewDecision | None,
    decision: ReviewDecision,
    context: GuardContext | None = None,
) -> None:
    """Raise ValueError unless the decision can be taken now (runs before history is written).
    `context`: what a corrected order is checked against (an order review)."""
    if state.status != RunStatus.MANUAL_REVIEW or state.review is None:
        raise ValueError(f"run is not waiting for review (status {state.status})")
    if not decision.reviewer:
        raise ValueError("the decision names no reviewer")
    if pending is not None:
        raise ValueError("a decision was already taken")
    if state.review.kind == "order":
        _validate_order_decision(decision, context)
        return
    if decision.order_payload is not None:
        raise ValueError("order_payload is for an order review; this is a customer review")
    has_default = bool(state.review.candidates) and state.customer_id
    if decision.decision == "approve" and not decision.customer_id and not has_default:
        raise ValueError("approve needs a customer_id: there is no candidate to fall back on")


def _validate_order_decision(decision: ReviewDecision, context: GuardContext | None) -> None:
    if decision.customer_id:
        raise ValueError("customer_id is for a customer review; this is an order review")
    if decision.order_payload is None or decision.decision == "reject" or context is None:
        return
    findings = guard.check(decision.order_payload, context)
    if findings:
        listed = "; ".join(
            f"{f.code}{f' (line {f.line})' if f.line else ''}: {f.message}" for f in findings
        )
        raise DraftHasFindings(f"the corrected order_payload has findings: {listed}")


def files_of(event: EmailEvent | None) -> list[str]:
    """The sha256 of every file the run's email brought (what the retention may remove)."""
    return [a.sha256 for a in event.attachments if a.sha256] if event else []


def finalize_input(
    state: OrchestratorRunResult, event: EmailEvent | None, signalled: list[ReviewDecision]
) -> FinalizeInput:
    """What `finalize` records: the outcome, the run's files, and the decisions by signal."""
    return FinalizeInput(result=state, blobs=files_of(event), signalled=list(signalled))


def unauthenticated(match: CustomerMatch) -> CustomerMatch:
    """The match, to be reviewed: our mail servers did not authenticate the sender."""
    return dataclasses.replace(match, needs_review=True, reason=ErrorCode.SENDER_NOT_AUTHENTICATED)


def review_info(match: CustomerMatch, contact: ContactMatch, deadline_iso: str) -> ReviewInfo:
    """What the reviewer sees while the run waits."""
    return ReviewInfo.model_validate(
        {
            "reason": match.reason or "",
            "candidates": match.candidates,
            "contact_customer_id": contact.customer_id,
            "deadline": deadline_iso,
        }
    )


def order_check(
    draft: OrderPayload,
    contract: ContractResult,
    customer: CustomerMatch,
    contact: ContactMatch,
    workflow_id: str,
) -> OrderCheckInput:
    """The guard's input: the draft and the run's facts (its customer, contact and contract)."""
    meta = contract.contract_meta
    return OrderCheckInput(
        draft=draft,
        context=GuardContext(
            customer_id=customer.customer_id or "",
            customer_num=customer.customer_num,
            contact_id=contact.contact_id or "",
            contract_total=meta.total_amount if meta else None,
            contract_currency=meta.currency if meta else "",
        ),
        contract_no=meta.contract_no if meta else "",
        workflow_id=workflow_id,
    )


def recheck(check: OrderCheckInput, corrected: OrderPayload) -> OrderCheckInput:
    """A reviewer's correction, checked again (but not for duplicates: the reviewer saw those)."""
    return dataclasses.replace(check, draft=corrected, duplicates=False)


def order_review(findings: list[Finding], deadline: datetime) -> ReviewInfo:
    """What the reviewer of an order sees (the draft is the run's order_payload)."""
    return ReviewInfo(kind="order", reason=findings[0].code, findings=findings, deadline=deadline)


def signal_input(event: EmailEvent, version: int | None) -> SignalInput:
    """What tells a contract mail: its text, and its attachments to choose the contract among
    (`version` None: a run from before the choice, which reads the first PDF)."""
    return SignalInput(
        subject=event.subject,
        body_text=event.body_text,
        pdf=event.pdf,
        attachments=event.attachments if version is not None else [],
        version=version,
    )


def not_a_contract(signal: ContractSignal, event: EmailEvent) -> str:
    """Why the run is IGNORED, in words."""
    if signal.reason != ErrorCode.UNSUPPORTED_ATTACHMENT:
        return "not a contract email with a PDF"
    names = ", ".join(f"{a.filename} ({a.content_type})" for a in event.attachments)
    return f"no attachment is a contract file MCS can read: {names}"


def outcome_mail(state: OrchestratorRunResult) -> str:
    """The mail that tells the salesperson the outcome ("": none)."""
    if state.status == RunStatus.IGNORED:
        unreadable = any(e.code == ErrorCode.UNSUPPORTED_ATTACHMENT for e in state.errors)
        return "unsupported_attachment" if unreadable else ""
    return OUTCOME_MAIL.get(state.status, "failure")


def payload_input(
    event: EmailEvent,
    customer: CustomerMatch,
    contact: ContactMatch,
    contract: ContractResult,
    file_url: str,
    file_type: str,
) -> OrderPayloadInput:
    """The order app's input: the chosen customer, the contact and the contract read."""
    assert contract.contract_meta is not None
    return OrderPayloadInput(
        customer={
            "customer_id": customer.customer_id or "",
            "customer_num": customer.customer_num,
            "name": customer.customer_name,
        },
        contact={
            "contact_id": contact.contact_id or "",
            "name": contact.name,
            "email": contact.email,
        },
        contract_meta=contract.contract_meta,
        items=contract.items,
        file_url=file_url,
        message_id=event.message_id,
        file_type=file_type,
    )


def mail_context(
    state: OrchestratorRunResult, event: EmailEvent | None, facts: dict[str, str]
) -> dict[str, str]:
    """Everything the mail templates may show, as strings (`facts`: customer name, contract no)."""
    error = state.errors[-1] if state.errors else None
    review = state.review
    pdf = event.pdf if event else None
    return {
        "subject": event.subject if event else "",
        "sender": event.from_email if event else "",
        "filename": facts.get("filename") or (pdf.filename if pdf else ""),
        "attachments": "\n".join(
            f"    {a.filename} ({a.content_type}, {a.size} bytes)"
            for a in (event.attachments if event else [])
        ),
        "status": str(state.status),
        "status_text": STATUS_TEXT.get(state.status, str(state.status)),
        "error_code": error.code if error else "",
        "error_message": error.message if error else "",
        "customer_id": state.customer_id or "",
        "customer_name": facts.get("customer_name", ""),
        "contract_no": facts.get("contract_no", ""),
        "sales_order_no": state.sales_order_no or "",
        "order_url": state.order_url or "",
        "warnings": "\n".join(state.warnings),
        "reason": review.reason if review else "",
        "review_kind": review.kind if review else "",
        "contact_customer_id": review.contact_customer_id if review else "",
        "deadline": review.deadline.isoformat() if review and review.deadline else "",
        "candidates": "\n".join(
            f"    {c.customer_id} {c.name} (score {c.score})"
            for c in (review.candidates if review else [])
        ),
        "findings": "\n".join(
            f"    {f.code}{f' (line {f.line})' if f.line else ''}: {f.message}"
            for f in (review.findings if review else [])
        ),
        "lines": "\n".join(
            f"    {n}. {line.product_code} x {line.quantity} {line.unit} at {line.unit_price}"
            for n, line in enumerate(state.order_payload.lines if state.order_payload else [], 1)
        ),
    }


def cause_of(error: FailureError) -> str:
    """The message of the error behind a failed step (activity or local activity)."""
    cause = error.cause if isinstance(error, ActivityError) else error
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error)
