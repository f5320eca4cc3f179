"""What a review page posts: the form's fields, and the decision they make."""

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from pydantic import ValidationError

from models.errors import Invalid, TooLarge, first_error
from models.orders import OrderLine, OrderPayload
from models.runs import ReviewDecision, RunView

FORM_BYTES = 256 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each, stripped)."""
    body = await request.body()
    if len(body) > FORM_BYTES:
        raise TooLarge("the form is too big")
    fields = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    return {name: values[0].strip() for name, values in fields.items() if values}


def decision_of(form: dict[str, str], run: RunView, reviewer: str) -> ReviewDecision:
    """The decision a review form makes, as `reviewer`: Invalid when it makes none."""
    choice = form.get("decision", "")
    if choice not in ("approve", "reject"):
        raise Invalid("choose approve or reject")
    kind = run.review.kind if run.review else "customer"
    decision: dict[str, Any] = {
        "decision": choice,
        "reviewer": reviewer,
        "comment": form.get("comment") or None,
    }
    if kind == "order" and choice == "approve":
        decision["order_payload"] = corrected(run, form)
    elif kind != "order" and choice == "approve":
        decision["customer_id"] = form.get("customer_id") or form.get("other_customer_id")
    try:
        return ReviewDecision.model_validate(decision)
    except ValidationError as error:
        raise Invalid(f"the decision is not valid: {first_error(error)}") from None


def corrected(run: RunView, form: dict[str, str]) -> OrderPayload | None:
    """The draft with the form's corrections, or None when nothing was changed."""
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
            new = given if field == "product_code" else _number(given, index, field)
            if new != values.get(field):
                values[field], changed = new, True
        try:
            lines.append(OrderLine.model_validate(values))
        except ValidationError as error:  # NaN, Infinity: not numbers an order can have
            raise Invalid(f"line {index + 1}: {first_error(error)}") from None
    return draft.model_copy(update={"lines": lines}) if changed else None


def _number(given: str, index: int, field: str) -> Decimal | None:
    try:
        return Decimal(given) if given else None
    except InvalidOperation as error:
        raise Invalid(f"line {index + 1}: {field} {given[:40]!r} is not a number") from error
