"""The order guard on the time-skipping server: each finding stops the run in an order review,
the ERP receives nothing until a reviewer approves, and then only the run's customer."""

import asyncio
from decimal import Decimal

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.orders import OrderPayload
from models.runs import ReviewDecision, RunStatus, RunView
from sandbox.demo import contract_number, contract_pdf, make_email
from sandbox.faults import Faults
from sandbox.pdf import Contract, Item, make_contract_pdf
from settings import Settings
from tests.helpers import Sims, mails_to, run, start, wait_for_review
from workflows.sales_email import SalesEmailWorkflow

Handle = WorkflowHandle[SalesEmailWorkflow, RunView]


async def waiting_order(
    env: WorkflowEnvironment, settings: Settings, pdf: bytes
) -> tuple[Handle, RunView]:
    handle = await start(env.client, settings, make_email(pdf=pdf))
    state = await wait_for_review(handle)
    assert state.review is not None and state.review.kind == "order", state
    return handle, state


def finding_codes(state: RunView) -> list[tuple[str, int | None]]:
    assert state.review is not None
    return [(f.code, f.line) for f in state.review.findings]


async def approve(handle: Handle, payload: OrderPayload | None = None) -> RunView:
    decision = ReviewDecision(decision="approve", reviewer="ops", order_payload=payload)
    await handle.execute_update(SalesEmailWorkflow.review, decision)
    return await handle.result()


@pytest.mark.parametrize(
    ("pdf", "findings"),
    [
        (contract_pdf(contract_number("GUARD-EMPTY")), [("ORDER_EMPTY", None)]),
        (
            contract_pdf(contract_number("GUARD-ZERO")),
            [("ORDER_LINE_INVALID", 1), ("ORDER_TOTAL_MISMATCH", None)],
        ),
        (contract_pdf(contract_number(), ("P-100", "X-404")), [("UNKNOWN_PRODUCT", 2)]),
        (contract_pdf(contract_number("GUARD-TOTAL")), [("ORDER_TOTAL_MISMATCH", None)]),
        # a quantity no decimal context can multiply: a finding, not a stuck run
        (contract_pdf(contract_number("GUARD-HUGE")), [("ORDER_LINE_INVALID", 1)]),
        (
            make_contract_pdf(
                Contract(
                    contract_number(),
                    "x",
                    currency="USD",
                    items=[Item("P-100", "pump", Decimal(1), "pcs", Decimal(5))],
                )
            ),  # fmt: skip
            [("CURRENCY_NOT_ALLOWED", None)],
        ),
    ],
    ids=["empty", "zero-quantity", "unknown-product", "total", "huge-quantity", "currency"],
)
async def test_a_finding_stops_the_order_and_a_rejection_ends_the_run(
    ts_env: WorkflowEnvironment,
    ts_worker: Settings,
    sims: Sims,
    pdf: bytes,
    findings: list[tuple[str, int | None]],
) -> None:
    handle, state = await waiting_order(ts_env, ts_worker, pdf)
    assert finding_codes(state) == findings
    assert state.review is not None and state.review.reason == findings[0][0]
    assert state.order_payload is not None and state.step == "review_order"
    assert state.idempotency_key not in sims.erp_orders
    await handle.execute_update(
        SalesEmailWorkflow.review, ReviewDecision(decision="reject", reviewer="ops")
    )
    result = await handle.result()
    assert result.status == RunStatus.REJECTED
    assert [e.code for e in result.errors] == [findings[0][0]]
    assert result.idempotency_key not in sims.erp_orders


async def test_a_draft_for_another_customer_is_sent_for_the_run_customer_once_approved(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    handle, state = await waiting_order(
        ts_env, ts_worker, contract_pdf(contract_number("GUARD-CUSTOMER"))
    )
    assert finding_codes(state) == [("ORDER_CUSTOMER_MISMATCH", None)]
    assert state.review is not None and "C002" in state.review.findings[0].message
    assert state.order_payload is not None and state.order_payload.customer_id == "C001"
    assert any("Order review needed" in s for s in mails_to(sims, "sales-ops@localhost"))
    result = await approve(handle)
    assert result.status == RunStatus.SUCCESS
    order = sims.erp_orders[result.idempotency_key]["order_payload"]
    assert order["customer_id"] == "C001" and order["customer_num"] == "HD-1001"  # type: ignore[index]


async def test_nulls_in_the_draft_are_accepted_and_the_contact_is_filled_in(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    event = make_email(pdf=contract_pdf(contract_number("GUARD-NULLS")))
    result = await run(ts_env.client, ts_worker, event)
    assert result.status == RunStatus.SUCCESS, result.errors
    order = sims.erp_orders[result.idempotency_key]["order_payload"]
    assert order["contact_id"] == "K001" and order["remark"] == ""  # type: ignore[index]
    assert order["customer_num"] == "HD-1001"  # type: ignore[index]


async def test_fields_beyond_the_order_never_reach_the_erp(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    """The contract's text talked the model into a bill-to customer, payment terms, a line's own
    customer and a discount: the order sent has the ERP contract's fields only."""
    event = make_email(pdf=contract_pdf(contract_number("GUARD-EXTRA")))
    result = await run(ts_env.client, ts_worker, event)
    assert result.status == RunStatus.SUCCESS, result.errors
    order = sims.erp_orders[result.idempotency_key]["order_payload"]
    assert set(order) == {  # type: ignore[call-overload]
        "customer_id", "customer_num", "contact_id", "contract_no", "currency", "lines", "remark"
    }  # fmt: skip
    for line in order["lines"]:  # type: ignore[index]
        assert set(line) == {"product_code", "quantity", "unit", "unit_price", "customer_ref"}
    [warning] = [w for w in result.warnings if w.startswith("not sent to the ERP")]
    for name in ("bill_to_customer_id", "payment_terms", "lines[1].customer_id",
                 "lines[1].discount_pct"):  # fmt: skip
        assert name in warning


async def test_a_correction_out_of_bounds_is_refused_by_the_run(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    handle, state = await waiting_order(
        ts_env, ts_worker, contract_pdf(contract_number("GUARD-ZERO"))
    )
    assert state.order_payload is not None
    draft = state.order_payload
    for quantity, why in (("1E+999999999", "over"), ("0.0000001", "decimals")):
        lines = [line.model_copy(update={"quantity": Decimal(quantity)}) for line in draft.lines]
        corrected = draft.model_copy(update={"lines": lines})
        decision = ReviewDecision(decision="approve", reviewer="ops", order_payload=corrected)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SalesEmailWorkflow.review, decision)
        assert "ORDER_LINE_INVALID (line 1)" in str(refused.value.cause)
        assert why in str(refused.value.cause)
    assert (await handle.query(SalesEmailWorkflow.status)).status == RunStatus.MANUAL_REVIEW
    await handle.terminate("test done")


async def test_the_same_contract_in_a_new_email_waits_for_review_naming_the_first_order(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    pdf = contract_pdf(contract_number())
    first = await run(ts_env.client, ts_worker, make_email(pdf=pdf))
    assert first.status == RunStatus.SUCCESS
    handle, state = await waiting_order(ts_env, ts_worker, pdf)
    assert finding_codes(state) == [("DUPLICATE_CONTRACT", None)]
    assert state.review is not None
    message = state.review.findings[0].message
    assert first.workflow_id in message and str(first.sales_order_no) in message
    assert state.idempotency_key not in sims.erp_orders
    await handle.execute_update(
        SalesEmailWorkflow.review, ReviewDecision(decision="reject", reviewer="ops")
    )
    assert (await handle.result()).status == RunStatus.REJECTED


async def test_a_correction_with_findings_is_refused_and_the_run_keeps_waiting(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    handle, state = await waiting_order(
        ts_env, ts_worker, contract_pdf(contract_number("GUARD-ZERO"))
    )
    assert state.order_payload is not None
    draft = state.order_payload
    still_zero = ReviewDecision(decision="approve", reviewer="ops", order_payload=draft)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SalesEmailWorkflow.review, still_zero)
    assert "ORDER_LINE_INVALID (line 1)" in str(refused.value.cause)
    no_customer = ReviewDecision(decision="approve", reviewer="ops", customer_id="C002")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SalesEmailWorkflow.review, no_customer)
    assert "customer_id is for a customer review" in str(refused.value.cause)
    assert (await handle.query(SalesEmailWorkflow.status)).status == RunStatus.MANUAL_REVIEW
    lines = [line.model_copy(update={"quantity": Decimal(10)}) for line in draft.lines]
    result = await approve(handle, draft.model_copy(update={"lines": lines}))
    assert result.status == RunStatus.SUCCESS
    sent = sims.erp_orders[result.idempotency_key]["order_payload"]
    assert [line["quantity"] for line in sent["lines"]] == ["10", "10"]  # type: ignore[index]


async def test_an_order_review_nobody_decides_expires(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    handle, _ = await waiting_order(ts_env, ts_worker, contract_pdf(contract_number("GUARD-EMPTY")))
    result = await handle.result()  # the time-skipping server runs the 72 h timer out
    assert result.status == RunStatus.REVIEW_EXPIRED
    assert [e.code for e in result.errors] == ["ORDER_EMPTY"]
    assert any("Reminder" in s for s in mails_to(sims, "sales-ops@localhost"))
    assert result.idempotency_key not in sims.erp_orders


async def test_two_mails_of_one_contract_at_the_same_moment_make_one_order(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    """The contract is claimed at the guard, not when the order is made: while the first run
    waits for a slow ERP, the second is held for review, naming the run that is ordering it."""
    pdf = contract_pdf(contract_number())
    sims.erp_faults.faults = Faults(latency_ms=2500)
    try:
        handles = [await start(ts_env.client, ts_worker, make_email(pdf=pdf)) for _ in range(2)]
        waiting = await wait_for_either_review(handles)
        ordering = next(h for h in handles if h.id != waiting.workflow_id)
        first = await ordering.result()
    finally:
        sims.erp_faults.faults = Faults()
    assert first.status == RunStatus.SUCCESS
    assert finding_codes(waiting) == [("DUPLICATE_CONTRACT", None)]
    message = waiting.review.findings[0].message  # type: ignore[union-attr]
    # names the other run: ordering it now ("is being ordered by"; on a very slow machine the
    # first may have ordered already, "was ordered before")
    assert ordering.id in message
    keys = (first.idempotency_key, waiting.idempotency_key)
    assert [key for key in keys if key in sims.erp_orders] == [first.idempotency_key]
    second = ts_env.client.get_workflow_handle(waiting.workflow_id)
    await second.execute_update(
        SalesEmailWorkflow.review, ReviewDecision(decision="reject", reviewer="ops")
    )


async def wait_for_either_review(handles: list[Handle]) -> RunView:
    for _ in range(200):
        for handle in handles:
            state = await handle.query(SalesEmailWorkflow.status)
            if state.status == RunStatus.MANUAL_REVIEW:
                return state
        await asyncio.sleep(0.05)
    raise AssertionError("neither run waits for review")


async def test_a_contract_is_let_go_by_a_run_that_made_no_order(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    """A run held for review claims its contract (a second mail of it is a duplicate); rejected,
    it lets the contract go, and a third mail of it is not a duplicate."""
    pdf = contract_pdf(contract_number(), ("P-100", "X-404"))
    reject = ReviewDecision(decision="reject", reviewer="ops")
    first, state = await waiting_order(ts_env, ts_worker, pdf)
    assert finding_codes(state) == [("UNKNOWN_PRODUCT", 2)]
    second, state = await waiting_order(ts_env, ts_worker, pdf)
    assert finding_codes(state) == [("UNKNOWN_PRODUCT", 2), ("DUPLICATE_CONTRACT", None)]
    for handle in (first, second):
        await handle.execute_update(SalesEmailWorkflow.review, reject)
        assert (await handle.result()).status == RunStatus.REJECTED
    _third, state = await waiting_order(ts_env, ts_worker, pdf)
    assert finding_codes(state) == [("UNKNOWN_PRODUCT", 2)]
    await _third.execute_update(SalesEmailWorkflow.review, reject)


async def test_an_approved_duplicate_that_orders_first_is_what_later_mails_name(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    """A run holds the contract in its review; a second mail of it is approved by a reviewer
    and ordered: its order, not the first run's claim, is what a third mail is a duplicate of."""
    pdf = contract_pdf(contract_number(), ("P-100", "X-404"))
    first, _ = await waiting_order(ts_env, ts_worker, pdf)
    second, state = await waiting_order(ts_env, ts_worker, pdf)
    draft = state.order_payload
    assert draft is not None
    fixed = [line.model_copy(update={"product_code": "P-200"}) for line in draft.lines[1:]]
    corrected = draft.model_copy(update={"lines": draft.lines[:1] + fixed})
    ordered = await approve(second, corrected)
    assert ordered.status == RunStatus.SUCCESS and ordered.sales_order_no
    third, state = await waiting_order(ts_env, ts_worker, pdf)
    assert state.review is not None
    [duplicate] = [f for f in state.review.findings if f.code == "DUPLICATE_CONTRACT"]
    assert f"ordered before: {ordered.sales_order_no} by {second.id}" in duplicate.message
    reject = ReviewDecision(decision="reject", reviewer="ops")
    for handle in (first, third):
        await handle.execute_update(SalesEmailWorkflow.review, reject)
