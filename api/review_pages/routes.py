"""The review pages' routes: a personal review link (GET shows, POST decides) and the inbox."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from temporalio.client import Client

import api.review_pages.session as session
from api.deps import SessionDep, SettingsDep, TemporalDep, find_key
from api.problems import status_of
from api.review_pages.forms import decision_of, read_form
from api.review_pages.render import age, base, case_page, learned_notes, outcome, page
from api.reviews import decide
from api.runs import read_run, waiting_runs
from models.errors import Problem
from models.runs import RunStatus, RunView
from settings import Settings
from storage.signed_urls import BadToken, ReviewToken, review_url, verify_review_token

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Case:
    """A run waiting for the review a link was made for."""

    token: ReviewToken
    run: RunView


async def _case(token: str, settings: Settings, temporal: Client, db: Session) -> Case | Response:
    """The case a token opens, or the page that says why it opens none."""
    try:
        claims = verify_review_token(token, settings.file_url_secret)
    except BadToken:
        return outcome(403, "This link is not valid", "It was changed or is incomplete.")
    if claims.expired:
        return outcome(410, "This link has expired", "The review's deadline has passed.")
    run = await read_run(temporal, db, claims.workflow_id)
    if run is None:
        return outcome(404, "No such run", "The run of this link is not known.")
    review = run.review
    deadline = review.deadline if review is not None else None
    same = deadline is not None and int(deadline.timestamp()) == claims.expires
    if same and review is not None and (decided := review.decision) is not None:
        return outcome(
            410,
            "This link was used",
            f"{decided.reviewer} decided: {decided.decision}. The run is {run.status}.",
        )
    if run.status != RunStatus.MANUAL_REVIEW or not same:
        return outcome(
            409,
            "Nothing to decide",
            f"The run no longer waits for this review (it is {run.status}).",
        )
    return Case(claims, run)


@router.get("/review/{token}", response_class=HTMLResponse)
async def review_page(
    token: str, settings: SettingsDep, temporal: TemporalDep, db: SessionDep
) -> Response:
    """The case of a personal review link, with its decision form."""
    case = await _case(token, settings, temporal, db)
    if not isinstance(case, Case):
        return case
    return await run_in_threadpool(case_page, case.run, case.token.reviewer, settings, db)


@router.post("/review/{token}", response_class=HTMLResponse)
async def review_decision(
    token: str, request: Request, settings: SettingsDep, temporal: TemporalDep, db: SessionDep
) -> Response:
    """Decide the review of a personal link: approve or reject, as the link's reviewer."""
    case = await _case(token, settings, temporal, db)
    if not isinstance(case, Case):
        return case
    try:
        decision = decision_of(await read_form(request), case.run, case.token.reviewer)
        taken = await decide(temporal, db, case.token.workflow_id, decision)
    except Problem as error:
        status = status_of(error)
        title = "Not decided" if status != 409 else "Nothing to decide"
        return outcome(status, title, str(error), back=str(request.url))
    verb = "approved" if taken.decision == "approve" else "rejected"
    customer = f" for customer {taken.customer_id}" if taken.customer_id else ""
    corrected = " with your corrections" if taken.order_payload is not None else ""
    notes = await run_in_threadpool(learned_notes, case.run, taken, settings, db)
    return outcome(
        200,
        f"Review {verb}",
        f"You ({taken.reviewer}) {verb} the run{customer}{corrected}. It goes on now.",
        notes=notes,
    )


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request, settings: SettingsDep, temporal: TemporalDep, db: SessionDep
) -> Response:
    """The runs waiting for review, newest first, each linking to its review page."""
    reviewer = session.reviewer(request, settings)
    token = session.form_token(request)
    if reviewer is None:
        login_page = page("login", base=base(settings), error="", form=token)
        return session.with_form_token(login_page, token, settings)
    waiting = await waiting_runs(temporal, db)
    runs = [_inbox_line(run, settings, reviewer) for run in waiting if _deadline(run)]
    runs.sort(key=lambda r: r["started"], reverse=True)
    listed = page("inbox", base=base(settings), reviewer=reviewer, runs=runs, form=token)
    return session.with_form_token(listed, token, settings)


def _deadline(run: RunView) -> datetime | None:
    return run.review.deadline if run.review else None


def _inbox_line(run: RunView, settings: Settings, reviewer: str) -> dict[str, Any]:
    """One waiting run as the inbox lists it, with a personal link for `reviewer`."""
    assert run.review is not None and run.review.deadline is not None
    deadline = run.review.deadline
    started = run.started_at or datetime.now(UTC)
    link = review_url(
        settings.api_url, run.workflow_id, reviewer, int(deadline.timestamp()),
        settings.file_url_secret,
    )  # fmt: skip
    return {
        "started": started,
        "age": age(datetime.now(UTC) - started),
        "kind": run.review.kind,
        "reason": run.review.reason,
        "subject": run.subject,
        "link": link,
    }


def _forged(settings: Settings) -> Response:
    return outcome(
        403, "This form is not valid",
        "It was not sent from the inbox's own page (or the page is too old). Open the inbox and"
        " try again.", back=f"{base(settings)}/inbox",
    )  # fmt: skip


@router.post("/inbox/login", response_class=HTMLResponse)
async def login(request: Request, settings: SettingsDep) -> Response:
    """Log in with a key that has `runs:review`: a signed session cookie, no key kept."""
    form = await read_form(request)
    if not session.genuine(request, form):
        return _forged(settings)
    key = find_key(settings, form.get("key", ""))
    if key is None or not key.allows("runs:review"):
        error = "That key is not valid for reviews (it needs the scope runs:review)."
        return page("login", 401, base=base(settings), error=error, form=form["form_token"])
    response = RedirectResponse(f"{base(settings)}/inbox", status_code=303)
    session.start_session(response, key, settings)
    return response


@router.post("/inbox/logout")
async def logout(request: Request, settings: SettingsDep) -> Response:
    """Log the inbox's reviewer out."""
    if not session.genuine(request, await read_form(request)):
        return _forged(settings)
    response = RedirectResponse(f"{base(settings)}/inbox", status_code=303)
    session.end_session(response)
    return response
