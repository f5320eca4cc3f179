"""Deciding a review: checked against masterdata, sent as the workflow's update, audited. The
API (by key name) and the review pages (by the link's reviewer) decide through here."""

from datetime import timedelta

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from models.actions import record
from models.masterdata import Customer
from models.masterdata_store import unknown_products
from models.runs import ReviewDecision
from temporal_client import run_handle
from workflows.sales_email import SalesEmailWorkflow
from workflows.sales_email_rules import DraftHasFindings

UPDATE_TIMEOUT = timedelta(seconds=10)
UNCONFIRMED = "sent, but no worker confirmed it in time: it may be taken when one is back"


async def decide(
    temporal: Client, db: Session, workflow_id: str, decision: ReviewDecision
) -> ReviewDecision:
    """Take `decision` (made by `decision.reviewer`) for the run waiting for review: HTTPException
    422 for a decision that cannot be right, 409 for a run not waiting, 404 for no run."""
    if (
        decision.customer_id
        and await run_in_threadpool(db.get, Customer, decision.customer_id) is None
    ):
        raise HTTPException(422, f"unknown customer {decision.customer_id!r}")
    if decision.order_payload is not None and decision.decision == "approve":
        unknown = await run_in_threadpool(unknown_products, db, decision.order_payload)
        if unknown:
            raise HTTPException(
                422, f"the corrected order_payload has unknown products: {', '.join(unknown)}"
            )
    handle = run_handle(temporal, workflow_id)
    try:
        taken = await handle.execute_update(
            SalesEmailWorkflow.review,
            decision,
            rpc_timeout=UPDATE_TIMEOUT,
        )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        refused = isinstance(cause, ApplicationError) and cause.type == DraftHasFindings.__name__
        raise HTTPException(422 if refused else 409, f"review not accepted: {cause}") from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        # Temporal keeps an update it admitted: a worker back later may still take it
        summary = decision.summary()
        await run_in_threadpool(
            record, db, decision.reviewer or "", f"review.{decision.decision}.unconfirmed",
            workflow_id, f"{summary}; {UNCONFIRMED}" if summary else UNCONFIRMED,
        )  # fmt: skip
        raise HTTPException(
            503,
            "no worker confirmed the decision in time. It may still be taken when a worker picks"
            " the run up; look at the run again in a minute before you decide again",
        ) from error
    except RPCError as error:
        raise HTTPException(
            409 if "not found" not in str(error).lower() else 404, str(error)
        ) from error
    await run_in_threadpool(
        record,
        db,
        decision.reviewer,
        f"review.{taken.decision}",
        workflow_id,
        taken.summary(),
    )
    return taken
