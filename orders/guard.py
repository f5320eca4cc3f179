"""The order guard: a draft from Dify is checked against the run's facts and masterdata, and the
order sent is built from the run's customer, never the draft's."""

from decimal import Decimal

from models.orders import Finding, FindingCode, GuardContext, OrderPayload, product_key

MIN_TOLERANCE = Decimal("0.01")


def completed(draft: OrderPayload, context: GuardContext) -> OrderPayload:
    """The draft with what it left out filled from the run (contact, currency)."""
    updates: dict[str, str] = {}
    if not draft.contact_id.strip():
        updates["contact_id"] = context.contact_id
    if not draft.currency.strip():
        updates["currency"] = context.contract_currency
    return draft.model_copy(update=updates)


def to_send(draft: OrderPayload, context: GuardContext) -> OrderPayload:
    """What the ERP receives: the draft, completed, for the run's customer."""
    return completed(draft, context).model_copy(
        update={"customer_id": context.customer_id, "customer_num": context.customer_num}
    )


def check(
    draft: OrderPayload, context: GuardContext, products: set[str] | None = None
) -> list[Finding]:
    """Every reason the draft may not go to the ERP as it is. `products`: the product keys of
    masterdata (None: not checked, for a caller without masterdata)."""
    draft = completed(draft, context)
    findings = _customer(draft, context) + _lines(draft, products)
    if draft.lines:
        findings += _total(draft, context)
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
        problems = []
        if not line.product_code.strip():
            problems.append("no product code")
        if line.quantity <= 0:
            problems.append(f"quantity {line.quantity} is not positive")
        if line.unit_price is not None and line.unit_price < 0:
            problems.append(f"unit price {line.unit_price} is negative")
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
    if context.contract_total is None:
        return []
    total = sum((line.quantity * (line.unit_price or 0) for line in draft.lines), Decimal(0))
    allowed = max(abs(context.contract_total) * context.tolerance, MIN_TOLERANCE)
    if abs(total - context.contract_total) <= allowed:
        return []
    message = f"the lines add up to {total}, the contract's total is {context.contract_total}"
    return [Finding(code=FindingCode.ORDER_TOTAL_MISMATCH, message=message)]
