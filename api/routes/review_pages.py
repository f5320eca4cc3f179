"""Review pages for people: a personal link from the review mail shows the case on one page and
takes the decision with one click; `/inbox` lists what waits, for holders of a reviewer's key.

Server-rendered (Jinja2, no JavaScript), readable on a phone. The link's token is the credential
(no cookie), so a form posted from another site has nothing to ride on; the inbox keeps its key in
a signed, HttpOnly, SameSite=Strict cookie. Its login and logout forms carry a form token that must
match a cookie of the same flags (double submit), so another site cannot log a reviewer in under its
own key (a login CSRF) or out.
"""

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError

from api.deps import SessionDep, SettingsDep, TemporalDep, find_key
from api.reviews import decide
from api.runs import read_run, waiting_state
from models.email import EmailEvent
from models.masterdata import Customer
from models.orders import OrderLine
from models.runs import OrchestratorRunResult, ReviewDecision, RunStatus
from settings import Settings
from storage.signed_urls import (
    BadToken,
    ReviewToken,
    contract_url,
    verify_review_token,
)
from storage.signed_urls import review_url as make_review_url
from templates import TEMPLATE_DIR

router = APIRouter(include_in_schema=False)
PAGES = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR / "web"), autoescape=select_autoescape(["j2"])
)
COOKIE = "mcs_inbox"
FORM_COOKIE = "mcs_form"
FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
SESSION_SECONDS = 12 * 3600
FORM_BYTES = 256 * 1024
INBOX_READS = 8  # runs of the inbox read at once (each: its first history event, for the subject)
REASONS = {
    "CUSTOMER_MATCH_LOW_SCORE": "the contract file's name matches no customer well enough",
    "CUSTOMER_CONTACT_MISMATCH": "the contract names another customer than the sender's own",
    "SENDER_NOT_AUTHENTICATED": "our mail server could not confirm the sender (forged From:?)",
    "DUPLICATE_CONTRACT": "this contract was ordered before",
    "ORDER_GUARD": "the drafted order did not pass the order guard",
}


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = PAGES.get_template(f"{name}.html.j2").render(**context)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(html, status_code=status, headers=headers)


def outcome(status: int, title: str, message: str, back: str = "") -> HTMLResponse:
    return page("outcome", status, title=title, message=message, back=back)


@dataclass(frozen=True)
class Case:
    """A run waiting for the review a link was made for."""

    token: ReviewToken
    run: OrchestratorRunResult


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


async def _email(temporal: Client, workflow_id: str) -> EmailEvent | None:
    """The run's input (sender, subject, received, files): the first event of its history."""
    try:
        async for event in temporal.get_workflow_handle(workflow_id).fetch_history_events():
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [found] = await temporal.data_converter.decode(list(payloads), [EmailEvent])
            return found if isinstance(found, EmailEvent) else None
    except (RPCError, ValueError):
        return None
    return None


def _file(
    email: EmailEvent | None, run: OrchestratorRunResult, settings: Settings
) -> tuple[str, str]:
    """The contract's name and a signed link to it."""
    if email is None:
        return "", run.file_url or ""
    contract = next((a for a in email.attachments if a.is_pdf), None) or next(
        (a for a in email.attachments if a.readable), None
    )
    if contract is None:
        return "", run.file_url or ""
    return contract.filename, contract_url(settings, contract.sha256, contract.content_type)[1]


def _lines(run: OrchestratorRunResult) -> list[dict[str, Any]]:
    draft = run.order_payload
    findings = run.review.findings if run.review else []
    rows = []
    for number, line in enumerate(draft.lines if draft else [], start=1):
        price = line.unit_price
        rows.append(
            {
                "product_code": line.product_code,
                "product_name": str(getattr(line, "product_name", "") or ""),
                "quantity": line.quantity,
                "unit": line.unit,
                "unit_price": "" if price is None else price,
                "amount": "" if price is None else line.quantity * price,
                "findings": [f.message for f in findings if f.line == number],
            }
        )
    return rows


def _customer_name(db: Session, customer_id: str) -> str:
    customer = db.get(Customer, customer_id) if customer_id else None
    return customer.name if customer else customer_id


def _choices(run: OrchestratorRunResult, db: Session) -> list[dict[str, Any]]:
    review = run.review
    assert review is not None
    choices = [
        {"customer_id": c.customer_id, "name": c.name, "score": round(c.score, 1), "own": False}
        for c in review.candidates
    ]
    own = review.contact_customer_id
    for choice in choices:
        choice["own"] = choice["customer_id"] == own
    if own and all(c["customer_id"] != own for c in choices):
        name = _customer_name(db, own)
        choices.append({"customer_id": own, "name": name, "score": None, "own": True})
    preferred = run.customer_id or (choices[0]["customer_id"] if choices else "")
    for choice in choices:
        choice["checked"] = choice["customer_id"] == preferred
    return choices


@router.get("/review/{token}", response_class=HTMLResponse)
async def review_page(
    token: str, settings: SettingsDep, temporal: TemporalDep, db: SessionDep
) -> Response:
    """The case of a personal review link, with its decision form."""
    case = await _case(token, settings, temporal, db)
    if not isinstance(case, Case):
        return case
    run, review = case.run, case.run.review
    assert review is not None
    email = await _email(temporal, case.token.workflow_id)  # only the page shows it
    filename, file_url = _file(email, run, settings)
    received = email.received_at if email and email.received_at else run.started_at
    return page(
        "review",
        review=review,
        reason_text=REASONS.get(review.reason, ""),
        email={
            "sender": email.from_ if email and email.from_ else (email.from_email if email else ""),
            "subject": email.subject if email else "",
            "received": received.strftime("%Y-%m-%d %H:%M UTC") if received else "",
        },
        filename=filename,
        file_url=file_url,
        deadline=review.deadline.strftime("%Y-%m-%d %H:%M UTC") if review.deadline else "",
        lines=_lines(run),
        choices=await run_in_threadpool(_choices, run, db),
        customer_id=run.customer_id or "",
        customer_name=await run_in_threadpool(_customer_name, db, run.customer_id or ""),
        reviewer=case.token.reviewer,
    )


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each)."""
    body = await request.body()
    if len(body) > FORM_BYTES:
        raise HTTPException(413, "the form is too big")
    fields = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    return {name: values[0].strip() for name, values in fields.items() if values}


def _corrected(run: OrchestratorRunResult, form: dict[str, str]) -> Any:
    """The order with the form's corrections, or None when nothing was changed."""
    draft = run.order_payload
    if draft is None:
        return None
    lines, changed = [], False
    for index, line in enumerate(draft.lines):
        values = line.model_dump()
        for field in ("product_code", "quantity", "unit_price"):
            given = form.get(f"line-{index}-{field}")
            if given is None:
                continue
            old = values.get(field)
            if field == "product_code":
                new: Any = given
            else:
                try:
                    new = Decimal(given) if given else None
                except InvalidOperation as error:
                    raise HTTPException(422, f"line {index + 1}: {field} {given!r}") from error
            if new != old:
                values[field], changed = new, True
        lines.append(OrderLine.model_validate(values))
    return draft.model_copy(update={"lines": lines}) if changed else None


@router.post("/review/{token}", response_class=HTMLResponse)
async def review_decision(
    token: str, request: Request, settings: SettingsDep, temporal: TemporalDep, db: SessionDep
) -> Response:
    """Decide the review of a personal link: approve or reject, as the link's reviewer."""
    case = await _case(token, settings, temporal, db)
    if not isinstance(case, Case):
        return case
    review = case.run.review
    assert review is not None
    try:
        form = await _form(request)
        choice = form.get("decision", "")
        if choice not in ("approve", "reject"):
            raise HTTPException(422, "choose approve or reject")
        decision: dict[str, Any] = {
            "decision": choice,
            "reviewer": case.token.reviewer,
            "comment": form.get("comment") or None,
        }
        if review.kind == "order" and choice == "approve":
            decision["order_payload"] = _corrected(case.run, form)
        elif review.kind != "order" and choice == "approve":
            decision["customer_id"] = form.get("customer_id") or form.get("other_customer_id")
        taken = await decide(
            temporal, db, case.token.workflow_id, ReviewDecision.model_validate(decision)
        )
    except HTTPException as error:
        title = "Not decided" if error.status_code != 409 else "Nothing to decide"
        return outcome(error.status_code, title, str(error.detail), back=str(request.url))
    verb = "approved" if taken.decision == "approve" else "rejected"
    customer = f" for customer {taken.customer_id}" if taken.customer_id else ""
    corrected = " with your corrections" if taken.order_payload is not None else ""
    return outcome(
        200,
        f"Review {verb}",
        f"You ({taken.reviewer}) {verb} the run{customer}{corrected}. It goes on now.",
    )


def _session(name: str, expires: int, secret: str) -> str:
    body = f"{name}|{expires}"
    signature = hmac.new(f"inbox:{secret}".encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}|{signature}"


def _reviewer(request: Request, settings: Settings) -> str | None:
    """The name of the inbox's logged-in reviewer, from the session cookie."""
    name, _, rest = request.cookies.get(COOKIE, "").partition("|")
    expires, _, _ = rest.partition("|")
    if not name or not expires.isdigit() or int(expires) < time.time():
        return None
    expected = _session(name, int(expires), settings.file_url_secret)
    given = request.cookies.get(COOKIE, "")
    return name if hmac.compare_digest(expected.encode(), given.encode(errors="replace")) else None


def _base(settings: Settings) -> str:
    return settings.api_url.rstrip("/")


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request, settings: SettingsDep, temporal: TemporalDep, db: SessionDep
) -> Response:
    """The runs waiting for review, newest first, each linking to its review page."""
    reviewer = _reviewer(request, settings)
    token = _form_token(request)
    if reviewer is None:
        return _with_form_token(
            page("login", base=_base(settings), error="", form=token), token, settings
        )
    query = "WorkflowType = 'SalesEmailWorkflow' AND SalesEmailStatus = 'MANUAL_REVIEW'"
    executions = [execution async for execution in temporal.list_workflows(query, limit=100)]
    bound = asyncio.Semaphore(INBOX_READS)

    async def line(execution: WorkflowExecution) -> dict[str, Any] | None:
        async with bound:
            return await _inbox_line(execution, temporal, db, settings, reviewer)

    found = await asyncio.gather(*(line(execution) for execution in executions))
    runs = [run for run in found if run is not None]
    runs.sort(key=lambda r: r["started"], reverse=True)
    listed = page("inbox", base=_base(settings), reviewer=reviewer, runs=runs, form=token)
    return _with_form_token(listed, token, settings)


async def _inbox_line(
    execution: WorkflowExecution, temporal: Client, db: Session, settings: Settings, reviewer: str
) -> dict[str, Any] | None:
    """One waiting run as the inbox lists it, with a personal link for `reviewer` (from the
    listing's memo; a run from before the memo is read on its own)."""
    run = await waiting_state(execution) or await read_run(temporal, db, execution.id)
    if run is None or run.review is None or run.review.deadline is None:
        return None
    expires = int(run.review.deadline.timestamp())
    started = execution.start_time or datetime.now(UTC)
    email = await _email(temporal, run.workflow_id)
    return {
        "started": started,
        "age": _age(datetime.now(UTC) - started),
        "kind": run.review.kind,
        "reason": run.review.reason,
        "subject": email.subject if email else "",
        "link": make_review_url(
            settings.api_url, run.workflow_id, reviewer, expires, settings.file_url_secret
        ),
    }


def _age(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _form_token(request: Request) -> str:
    """The browser's form token (its cookie), or a new one."""
    given = request.cookies.get(FORM_COOKIE, "")
    return given if FORM_TOKEN.fullmatch(given) else secrets.token_urlsafe(32)


def _with_form_token(response: Response, token: str, settings: Settings) -> Response:
    response.set_cookie(
        FORM_COOKIE, token, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
        secure=settings.api_url.startswith("https://"),
    )  # fmt: skip
    return response


def _forged(request: Request, form: dict[str, str], settings: Settings) -> Response | None:
    """A 403 page unless the form carries the token of this browser's form cookie."""
    cookie, given = request.cookies.get(FORM_COOKIE, ""), form.get("form_token", "")
    if FORM_TOKEN.fullmatch(cookie) and hmac.compare_digest(
        cookie.encode(), given.encode(errors="replace")
    ):
        return None
    return outcome(
        403, "This form is not valid",
        "It was not sent from the inbox's own page (or the page is too old). Open the inbox and"
        " try again.", back=f"{_base(settings)}/inbox",
    )  # fmt: skip


@router.post("/inbox/login", response_class=HTMLResponse)
async def login(request: Request, settings: SettingsDep) -> Response:
    """Log in with a key that has `runs:review`: a signed session cookie, no key kept."""
    form = await _form(request)
    forged = _forged(request, form, settings)
    if forged is not None:
        return forged
    key = find_key(settings, form.get("key", ""))
    if key is None or not key.allows("runs:review"):
        error = "That key is not valid for reviews (it needs the scope runs:review)."
        return page("login", 401, base=_base(settings), error=error, form=form["form_token"])
    expires = int(time.time()) + SESSION_SECONDS
    response = RedirectResponse(f"{_base(settings)}/inbox", status_code=303)
    response.set_cookie(
        COOKIE,
        _session(key.name, expires, settings.file_url_secret),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=settings.api_url.startswith("https://"),
    )
    return response


@router.post("/inbox/logout")
async def logout(request: Request, settings: SettingsDep) -> Response:
    forged = _forged(request, await _form(request), settings)
    if forged is not None:
        return forged
    response = RedirectResponse(f"{_base(settings)}/inbox", status_code=303)
    response.delete_cookie(COOKIE)
    return response
