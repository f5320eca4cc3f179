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
from models.runs import ErrorCode, ReviewDecision, ReviewInfo, RunStatus
from orders import guard
from workflows.sales_email_state import RunState

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
    state: RunState, pending: ReviewDecision | None, decision: ReviewDecision
) -> None:
    """Raise ValueError unless the decision can be taken now (runs before history is written);
    a corrected order is checked against the run's guard context."""
    if state.status != RunStatus.MANUAL_REVIEW or state.review is None:
        raise ValueError(f"run is not waiting for review (status {state.status})")
    if not decision.reviewer:
        raise ValueError("the decision names no reviewer")
    if pending is not None:
        raise ValueError("a decision was already taken")
    if state.review.kind == "order":
        _validate_order_decision(decision, state.guard)
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
        raise DraftHasFindings(guard.refused_correction(findings))


def finalize_input(state: RunState, signalled: list[ReviewDecision]) -> FinalizeInput:
    """What `finalize` records: the outcome, the run's files (what the retention may remove),
    and the decisions taken by signal."""
    event = state.event
    blobs = [a.sha256 for a in event.attachments if a.sha256] if event else []
    return FinalizeInput(result=state.view(), blobs=blobs, signalled=list(signalled))


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
    version: int,
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
        version=version,
    )


def not_sent(fields: list[str]) -> str:
    """The warning that names what a draft or correction carried beyond the order's fields."""
    return f"not sent to the ERP (not order fields): {', '.join(fields)}"[:1000]


def recheck(check: OrderCheckInput, corrected: OrderPayload) -> OrderCheckInput:
    """A reviewer's correction, checked again (but not for duplicates: the reviewer saw those)."""
    return dataclasses.replace(check, draft=corrected, duplicates=False)


def order_review(findings: list[Finding], deadline: datetime) -> ReviewInfo:
    """What the reviewer of an order sees (the draft is the run's order_payload)."""
    return ReviewInfo(kind="order", reason=findings[0].code, findings=findings, deadline=deadline)


def signal_input(event: EmailEvent, version: int) -> SignalInput:
    """What tells a contract mail: its text, and its attachments to choose the contract among."""
    return SignalInput(
        subject=event.subject,
        body_text=event.body_text,
        attachments=event.attachments,
        version=version,
    )


def not_a_contract(signal: ContractSignal, event: EmailEvent) -> str:
    """Why the run is IGNORED, in words."""
    if signal.reason != ErrorCode.UNSUPPORTED_ATTACHMENT:
        return "not a contract email with a PDF"
    names = ", ".join(f"{a.filename} ({a.content_type})" for a in event.attachments)
    return f"no attachment is a contract file MCS can read: {names}"


def outcome_mail(state: RunState) -> str:
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


def mail_context(state: RunState) -> dict[str, str]:
    """Everything the mail templates may show, as strings."""
    error = state.errors[-1] if state.errors else None
    review, event = state.review, state.event
    pdf = event.pdf if event else None
    contract = state.contract or pdf
    meta = state.contract_no or ""
    return {
        "subject": event.subject if event else "",
        "sender": event.from_email if event else "",
        "filename": contract.filename if contract else "",
        "attachments": "\n".join(
            f"    {a.filename} ({a.content_type}, {a.size} bytes)"
            for a in (event.attachments if event else [])
        ),
        "status": str(state.status),
        "status_text": STATUS_TEXT.get(state.status, str(state.status)),
        "error_code": error.code if error else "",
        "error_message": error.message if error else "",
        "customer_id": state.customer_id or "",
        "customer_name": state.customer_name,
        "contract_no": meta,
        "sales_order_no": state.sales_order_no or "",
        "order_url": state.order_url or "",
        "warnings": "\n".join(state.warnings),
        **_review_context(review),
        "lines": "\n".join(
            f"    {n}. {line.product_code} x {line.quantity} {line.unit} at {line.unit_price}"
            for n, line in enumerate(state.order_payload.lines if state.order_payload else [], 1)
        ),
    }


def _review_context(review: ReviewInfo | None) -> dict[str, str]:
    """What a review mail shows of the review."""
    return {
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
    }


def cause_of(error: FailureError) -> str:
    """The message of the error behind a failed step (activity or local activity)."""
    cause = error.cause if isinstance(error, ActivityError) else error
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error)
