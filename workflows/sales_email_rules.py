"""Pure helpers of SalesEmailWorkflow: review validation, step inputs, mail contexts."""

from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as StepTimeout

from models.email import EmailEvent
from models.results import ContactMatch, ContractResult, CustomerMatch, OrderPayloadInput
from models.runs import OrchestratorRunResult, ReviewDecision, ReviewInfo, RunStatus

# What a failed step raises in the workflow: an activity raises ActivityError (the activity's
# error is its cause), a local activity raises the activity's error itself, or a TimeoutError.
STEP_ERRORS = (ActivityError, ApplicationError, StepTimeout)

STATUS_TEXT = {
    RunStatus.SUCCESS: "order created",
    RunStatus.UNKNOWN_CONTACT: "unknown sender",
    RunStatus.REJECTED: "review rejected",
    RunStatus.REVIEW_EXPIRED: "review expired",
    RunStatus.CONTRACT_PARSE_FAILED: "contract not readable",
    RunStatus.ORDER_PAYLOAD_BLOCKED: "order draft blocked",
    RunStatus.ERP_ORDER_FAILED: "ERP refused the order",
    RunStatus.FAILED: "processing failed",
}


def validate_review(
    state: OrchestratorRunResult, pending: ReviewDecision | None, decision: ReviewDecision
) -> None:
    """Raise ValueError unless the decision can be taken now (runs before history is written)."""
    if state.status != RunStatus.MANUAL_REVIEW or state.review is None:
        raise ValueError(f"run is not waiting for review (status {state.status})")
    if pending is not None:
        raise ValueError("a decision was already taken")
    has_default = bool(state.review.candidates) and state.customer_id
    if decision.decision == "approve" and not decision.customer_id and not has_default:
        raise ValueError("approve needs a customer_id: there is no candidate to fall back on")


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


def payload_input(
    event: EmailEvent,
    customer: CustomerMatch,
    contact: ContactMatch,
    contract: ContractResult,
    file_url: str,
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
        "filename": pdf.filename if pdf else "",
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
        "contact_customer_id": review.contact_customer_id if review else "",
        "deadline": review.deadline.isoformat() if review and review.deadline else "",
        "candidates": "\n".join(
            f"    {c.customer_id} {c.name} (score {c.score})"
            for c in (review.candidates if review else [])
        ),
    }


def cause_of(error: FailureError) -> str:
    """The message of the error behind a failed step (activity or local activity)."""
    cause = error.cause if isinstance(error, ActivityError) else error
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error)
