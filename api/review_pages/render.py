"""The HTML of the review pages (Jinja2, autoescaped; never cached, never sent as a referrer)."""

from datetime import timedelta
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session

from matching.index import normalise_filename
from models.masterdata import Customer
from models.runs import ReviewDecision, RunView
from orders import guard, learning
from settings import Settings
from storage.signed_urls import contract_url
from templates import TEMPLATE_DIR

PAGES = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR / "web"), autoescape=select_autoescape(["j2"])
)
REASONS = {
    "CUSTOMER_MATCH_LOW_SCORE": "the contract file's name matches no customer well enough",
    "CUSTOMER_CONTACT_MISMATCH": "the contract names another customer than the sender's own",
    "SENDER_NOT_AUTHENTICATED": "our mail server could not confirm the sender (forged From:?)",
    "DUPLICATE_CONTRACT": "this contract was ordered before",
    "ORDER_GUARD": "the drafted order did not pass the order guard",
}
MINUTE = "%Y-%m-%d %H:%M UTC"


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = PAGES.get_template(f"{name}.html.j2").render(**context)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(html, status_code=status, headers=headers)


def outcome(
    status: int, title: str, message: str, back: str = "", notes: list[str] | None = None
) -> HTMLResponse:
    return page("outcome", status, title=title, message=message, back=back, notes=notes or [])


def base(settings: Settings) -> str:
    return settings.api_url.rstrip("/")


def case_page(run: RunView, reviewer: str, settings: Settings, db: Session) -> HTMLResponse:
    """The case of a run waiting for review, with its decision form."""
    review = run.review
    assert review is not None
    received = run.received_at or run.started_at
    filename, file_url = contract_link(run, settings)
    customer = customer_name(db, run.customer_id or "")
    return page(
        "review",
        review=review,
        reason_text=REASONS.get(review.reason, ""),
        email={
            "sender": run.sender,
            "subject": run.subject,
            "received": received.strftime(MINUTE) if received else "",
        },
        filename=filename,
        file_url=file_url,
        deadline=review.deadline.strftime(MINUTE) if review.deadline else "",
        lines=lines(run, hints(run, settings, customer)),
        choices=choices(run, db),
        alias_hint=alias_hint(run, settings),
        customer_id=run.customer_id or "",
        customer_name=customer,
        reviewer=reviewer,
    )


def hints(run: RunView, settings: Settings, customer: str) -> dict[int, str]:
    """What a corrected code of each unknown line will teach, by line number."""
    mode, draft = settings.learn_from_reviews, run.order_payload
    if mode == "off" or run.review is None or draft is None:
        return {}
    kept = learning.kept(mode)
    return {
        number: f"{draft.lines[number - 1].product_code} {kept} the code you enter, for {customer}"
        for number in learning.unknown_lines(run.review)
        if number <= len(draft.lines)
    }


def unmatched_name(run: RunView) -> str:
    """The customer name of a contract file that matched no customer well (as the matcher
    reads it), which approving its customer review teaches; "" for any other review."""
    review, file = run.review, run.contract_file
    if review is None or file is None or review.reason != "CUSTOMER_MATCH_LOW_SCORE":
        return ""
    return normalise_filename(file.filename)


def alias_hint(run: RunView, settings: Settings) -> str:
    """What approving a customer review for an unmatched contract name will teach."""
    alias, mode = unmatched_name(run), settings.learn_from_reviews
    if mode == "off" or not alias:
        return ""
    return f"The name “{alias}” {learning.kept(mode)} a name of the customer you approve."


def learned_notes(
    run: RunView, taken: ReviewDecision, settings: Settings, db: Session
) -> list[str]:
    """What an approval just taught, in words, for the page that confirms it."""
    mode, review = settings.learn_from_reviews, run.review
    if taken.decision != "approve" or review is None or mode == "off":
        return []
    chosen = taken.customer_id or run.customer_id or ""
    name = customer_name(db, chosen)
    if review.kind == "order" and run.order_payload is not None:
        return learning.remembered(learning.taught(run.order_payload, review, taken), name, mode)
    alias = unmatched_name(run)
    return (
        [f"“{alias}” {learning.kept(mode)} a name of {name} ({chosen})"] if alias and chosen else []
    )


def contract_link(run: RunView, settings: Settings) -> tuple[str, str]:
    """The contract's name and a signed link to it."""
    file = run.contract_file
    if file is None:
        return "", run.file_url or ""
    return file.filename, contract_url(settings, file.sha256, file.content_type)[1]


def lines(run: RunView, hint: dict[int, str]) -> list[dict[str, Any]]:
    """The draft's lines as the order review shows them, each with its findings and what its
    correction will teach."""
    draft = run.order_payload
    findings = run.review.findings if run.review else []
    rows = []
    for number, line in enumerate(draft.lines if draft else [], start=1):
        price = line.unit_price
        countable = price is not None and guard.countable(line)  # no Overflow, no NaN
        rows.append(
            {
                "product_code": line.product_code,
                "product_name": str(getattr(line, "product_name", "") or ""),
                "customer_ref": line.customer_ref,  # their code, resolved to ours
                "quantity": line.quantity,
                "unit": line.unit,
                "unit_price": "" if price is None else price,
                "amount": line.quantity * price if countable and price is not None else "",
                "findings": [f.message for f in findings if f.line == number],
                "hint": hint.get(number, ""),
            }
        )
    return rows


def customer_name(db: Session, customer_id: str) -> str:
    customer = db.get(Customer, customer_id) if customer_id else None
    return customer.name if customer else customer_id


def choices(run: RunView, db: Session) -> list[dict[str, Any]]:
    """The customers a customer review offers: the candidates and the contact's own."""
    review = run.review
    assert review is not None
    own = review.contact_customer_id
    offered = [
        {"customer_id": c.customer_id, "name": c.name, "score": round(c.score, 1), "own": False}
        for c in review.candidates
    ]
    for choice in offered:
        choice["own"] = choice["customer_id"] == own
    if own and all(c["customer_id"] != own for c in offered):
        offered.append(
            {"customer_id": own, "name": customer_name(db, own), "score": None, "own": True}
        )
    preferred = run.customer_id or (offered[0]["customer_id"] if offered else "")
    for choice in offered:
        choice["checked"] = choice["customer_id"] == preferred
    return offered


def age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
