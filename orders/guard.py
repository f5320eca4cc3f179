"""The order guard: a draft from Dify is checked against the run's facts and masterdata, and the
order sent is built from the run's customer, never the draft's, and from the order's own fields
only (what else a draft or a correction carries never reaches the ERP)."""

from decimal import Decimal

from models.orders import (
    LINE_FIELDS,
    ORDER_FIELDS,
    Finding,
    FindingCode,
    GuardContext,
    OrderLine,
    OrderPayload,
    product_key,
)

MIN_TOLERANCE = Decimal("0.01")
MAX_QUANTITY = Decimal(10) ** 9
MAX_PRICE = Decimal(10) ** 12
MAX_DECIMALS = 6
MAX_TOTAL = MAX_QUANTITY * MAX_PRICE * 10_000  # far beyond any order: what the context computes


def number_problem(name: str, value: Decimal, most: Decimal, zero: bool) -> str:
    """Why `value` cannot be a quantity or price ("" when it can): finite, not negative (nor
    zero unless `zero`), at most `most`, at most six decimals."""
    if not value.is_finite():
        return f"{name} {value} is not a number"
    if value < 0 and zero:
        return f"{name} {value} is negative"
    if value < 0 or (value == 0 and not zero):
        return f"{name} {value} is not positive"
    if value > most:
        return f"{name} {value} is over {most:,.0f}"
    if _decimals(value) > MAX_DECIMALS:
        return f"{name} {value} has more than {MAX_DECIMALS} decimals"
    return ""


def _decimals(value: Decimal) -> int:
    """Significant decimals of a finite value, without context arithmetic (`normalize` raises
    Overflow past the context's exponent limit, and a guard that raises is a stuck run)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits))
    if not shown.strip("0"):
        return 0
    return max(0, -exponent - (len(shown) - len(shown.rstrip("0"))))


def refused_correction(findings: list[Finding]) -> str:
    """Why a reviewer's corrected order is refused, in one line (the API and the workflow)."""
    listed = "; ".join(
        f"{f.code}{f' (line {f.line})' if f.line else ''}: {f.message}" for f in findings
    )
    return f"the corrected order_payload has findings: {listed}"


def line_problems(line: OrderLine) -> list[str]:
    """Why a line cannot be ordered as it is."""
    problems = [] if line.product_code.strip() else ["no product code"]
    problems.append(number_problem("quantity", line.quantity, MAX_QUANTITY, zero=False))
    if line.unit_price is not None:
        problems.append(number_problem("unit price", line.unit_price, MAX_PRICE, zero=True))
    return [p for p in problems if p]


Refs = dict[str, tuple[str, Decimal]]  # a customer's code, compared as ours -> ours, unit factor
SIX_PLACES = Decimal("0.000001")


def resolve(draft: OrderPayload, refs: Refs, products: set[str]) -> OrderPayload:
    """The draft with each line whose code is not ours looked up among the run's customer's
    references, by its code, then its product name: a hit takes our code, the quantity times
    the unit factor and the price divided by it, and keeps what the contract said."""
    lines = [_resolved(line, refs, products) for line in draft.lines]
    return draft.model_copy(update={"lines": lines})


def _resolved(line: OrderLine, refs: Refs, products: set[str]) -> OrderLine:
    if product_key(line.product_code) in products or not countable(line):
        return line
    name = str((line.model_extra or {}).get("product_name") or "")
    for said in (line.product_code, name):
        if said.strip() and (hit := refs.get(product_key(said))) is not None:
            code, factor = hit
            price = line.unit_price
            return line.model_copy(
                update={
                    "product_code": code,
                    "quantity": line.quantity * factor,
                    "unit_price": None if price is None else (price / factor).quantize(SIX_PLACES),
                    "customer_ref": said.strip(),
                }
            )
    return line


def countable(line: OrderLine) -> bool:
    """The line's numbers can be multiplied and added (finite, within bounds)."""
    price = line.unit_price if line.unit_price is not None else Decimal(0)
    return all(
        n.is_finite() and n.copy_abs() <= most  # copy_abs: exact, never Overflow
        for n, most in ((line.quantity, MAX_QUANTITY), (price, MAX_PRICE))
    )


def dropped(draft: OrderPayload) -> list[str]:
    """The fields of a draft that are not the order's (they are not sent)."""
    names = sorted(draft.model_extra or {})
    for number, line in enumerate(draft.lines, start=1):
        names += [f"lines[{number}].{name}" for name in sorted(line.model_extra or {})]
    return names


def completed(draft: OrderPayload, context: GuardContext) -> OrderPayload:
    """The draft with what it left out filled from the run (contact, currency)."""
    updates: dict[str, str] = {}
    if not draft.contact_id.strip():
        updates["contact_id"] = context.contact_id
    if not draft.currency.strip():
        updates["currency"] = context.contract_currency
    return draft.model_copy(update=updates)


def to_send(draft: OrderPayload, context: GuardContext) -> OrderPayload:
    """What the ERP receives: the draft's order fields, completed, for the run's customer."""
    order = completed(draft, context)
    lines = [OrderLine(**{f: getattr(line, f) for f in LINE_FIELDS}) for line in order.lines]
    fields = {f: getattr(order, f) for f in ORDER_FIELDS if f != "lines"}
    fields.update(customer_id=context.customer_id, customer_num=context.customer_num)
    return OrderPayload(**fields, lines=lines)


def check(
    draft: OrderPayload, context: GuardContext, products: set[str] | None = None
) -> list[Finding]:
    """Every reason the draft may not go to the ERP as it is. `products`: the product keys of
    masterdata (None: not checked, for a caller without masterdata)."""
    draft = completed(draft, context)
    findings = _customer(draft, context) + _lines(draft, products)
    if draft.lines and all(countable(line) for line in draft.lines):
        findings += _total(draft, context)  # of numbers out of bounds: means nothing, overflows
    if draft.currency.strip().upper() not in context.currencies:
        allowed = ", ".join(context.currencies)
        findings.append(
            Finding(
                code=FindingCode.CURRENCY_NOT_ALLOWED,
                message=f"currency {draft.currency or '(none)'!r} is not one of {allowed}",
            )
        )
    return findings


def _customer(draft: OrderPayload, context: GuardContext) -> list[Finding]:
    wrong = []
    if draft.customer_id.strip() and draft.customer_id.strip() != context.customer_id:
        wrong.append(f"customer_id {draft.customer_id!r}")
    number = draft.customer_num.strip()
    if number and context.customer_num and number != context.customer_num:
        wrong.append(f"customer_num {draft.customer_num!r}")
    if not wrong:
        return []
    message = f"the draft names {' and '.join(wrong)}, the run's customer is {context.customer_id}"
    return [Finding(code=FindingCode.ORDER_CUSTOMER_MISMATCH, message=message)]


def _lines(draft: OrderPayload, products: set[str] | None) -> list[Finding]:
    if not draft.lines:
        return [Finding(code=FindingCode.ORDER_EMPTY, message="the draft has no order lines")]
    findings = []
    for number, line in enumerate(draft.lines, start=1):
        problems = line_problems(line)
        if problems:
            findings.append(
                Finding(
                    code=FindingCode.ORDER_LINE_INVALID, message="; ".join(problems), line=number
                )
            )
        elif products is not None and product_key(line.product_code) not in products:
            findings.append(
                Finding(
                    code=FindingCode.UNKNOWN_PRODUCT,
                    message=f"product {line.product_code!r} is not in masterdata",
                    line=number,
                )
            )
    return findings


def _total(draft: OrderPayload, context: GuardContext) -> list[Finding]:
    """The lines' sum against the contract's total (the lines are countable: see `check`)."""
    if context.contract_total is None:
        return []
    if not (context.contract_total.is_finite() and context.contract_total.copy_abs() <= MAX_TOTAL):
        message = f"the contract's total {context.contract_total} is not an amount an order has"
        return [Finding(code=FindingCode.ORDER_TOTAL_MISMATCH, message=message)]
    total = sum((line.quantity * (line.unit_price or 0) for line in draft.lines), Decimal(0))
    allowed = max(abs(context.contract_total) * context.tolerance, MIN_TOLERANCE)
    if abs(total - context.contract_total) <= allowed:
        return []
    message = f"the lines add up to {total}, the contract's total is {context.contract_total}"
    return [Finding(code=FindingCode.ORDER_TOTAL_MISMATCH, message=message)]
