"""Deciding a review: checked against masterdata, sent as the run's `review` update, audited. The
API (by key name) and the review pages (by the link's reviewer) decide through here."""

from datetime import timedelta

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from models import run_contract as contract
from models.errors import Conflict, Invalid, NotFound, Unavailable
from models.masterdata import Customer
from models.masterdata_store import unknown_products
from models.orders import Finding, FindingCode
from models.runs import ReviewDecision
from orders import guard
from telemetry.actions import record
from temporal_client import run_handle

UPDATE_TIMEOUT = timedelta(seconds=10)
UNCONFIRMED = "sent, but no worker confirmed it in time: it may be taken when one is back"


def check_decision(db: Session, decision: ReviewDecision) -> None:
    """Invalid for a decision that names an unknown customer or unknown products, or whose
    corrected lines have quantities or prices out of bounds."""
    if decision.customer_id and db.get(Customer, decision.customer_id) is None:
        raise Invalid(f"unknown customer {decision.customer_id!r}")
    if decision.order_payload is not None and decision.decision == "approve":
        wrong = [
            Finding(code=FindingCode.ORDER_LINE_INVALID, line=n, message="; ".join(problems))
            for n, line in enumerate(decision.order_payload.lines, start=1)
            if (problems := guard.line_problems(line))
        ]
        if wrong:  # the workflow would refuse them too: out of bounds, they never reach it
            raise Invalid(guard.refused_correction(wrong))
        unknown = unknown_products(db, decision.order_payload)
        if unknown:
            raise Invalid(f"the corrected order_payload has unknown products: {', '.join(unknown)}")


async def decide(
    temporal: Client, db: Session, workflow_id: str, decision: ReviewDecision
) -> ReviewDecision:
    """Take `decision` (made by `decision.reviewer`) for the run waiting for review: Invalid for
    a decision that cannot be right, Conflict for a run not waiting, NotFound for no run,
    Unavailable when no worker confirmed it in time (it is audited as unconfirmed)."""
    await run_in_threadpool(check_decision, db, decision)
    try:
        taken: ReviewDecision = await run_handle(temporal, workflow_id).execute_update(
            contract.REVIEW_UPDATE, decision, result_type=ReviewDecision, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        refused = isinstance(cause, ApplicationError) and cause.type == contract.DRAFT_HAS_FINDINGS
        kind = Invalid if refused else Conflict
        raise kind(f"review not accepted: {cause}") from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        # Temporal keeps an update it admitted: a worker back later may still take it
        summary = decision.summary()
        await run_in_threadpool(
            record, db, decision.reviewer or "", f"review.{decision.decision}.unconfirmed",
            workflow_id, f"{summary}; {UNCONFIRMED}" if summary else UNCONFIRMED,
        )  # fmt: skip
        raise Unavailable(
            "no worker confirmed the decision in time. It may still be taken when a worker picks"
            " the run up; look at the run again in a minute before you decide again"
        ) from error
    except RPCError as error:
        # a run that ended answers NOT_FOUND too ("already completed"): that is a 409
        gone = "not found" in str(error).lower()
        raise (NotFound if gone else Conflict)(str(error)) from error
    summary = taken.summary()
    await run_in_threadpool(
        record, db, decision.reviewer, f"review.{taken.decision}", workflow_id, summary
    )
    return taken
