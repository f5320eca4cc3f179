"""A customer's own part numbers resolve to ours before the order guard objects: the ERP gets our
product code, the customer's quantity and price in our units, and what the contract said; another
customer's reference never applies; deleting the reference brings the review back."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from models import masterdata_store as store
from models.db import make_engine
from models.masterdata import ProductRefBase
from models.runs import RunStatus
from sandbox.demo import contract_number, contract_pdf, make_email
from settings import Settings
from tests.helpers import Sims, run, start, wait_for_review

THEIRS = "HD-BRG-6204"  # 华东's own code for our P-100, sold by them in pairs of ours


@pytest.fixture
def reference(ts_worker: Settings) -> Iterator[Session]:
    engine = make_engine(ts_worker.db_url)
    with Session(engine) as session:
        row = ProductRefBase(ref_id="test-hd-6204", customer_id="C001", ref=THEIRS,
                             product_code="P-100", unit_factor=Decimal(2))  # fmt: skip
        store.upsert(session, "product_refs", row)
        yield session
        store.remove(session, "product_refs", "test-hd-6204")
    engine.dispose()


async def test_a_customers_own_code_orders_our_product_without_a_review(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims, reference: Session
) -> None:
    pdf = contract_pdf(contract_number(), (THEIRS, "P-200"))
    result = await run(ts_env.client, ts_worker, make_email(pdf=pdf))
    assert result.status == RunStatus.SUCCESS, result.errors
    sent = sims.erp_orders[result.idempotency_key]["order_payload"]
    first = sent["lines"][0]  # type: ignore[index]
    assert (first["product_code"], first["customer_ref"]) == ("P-100", THEIRS)
    assert (Decimal(first["quantity"]), Decimal(first["unit_price"])) == (
        Decimal(20),
        Decimal("49.75"),
    )
    assert sent["lines"][1]["customer_ref"] == ""  # type: ignore[index]


async def test_another_customers_reference_never_applies_and_a_deleted_one_no_more(
    ts_env: WorkflowEnvironment, ts_worker: Settings, reference: Session
) -> None:
    other = make_email(sender="purchasing@yuanhang.example", filename="采购合同_远航科技.pdf",
                       pdf=contract_pdf(contract_number(), (THEIRS,)))  # fmt: skip
    handle = await start(ts_env.client, ts_worker, other)
    waiting = await wait_for_review(handle)
    assert waiting.review is not None
    assert [f.code for f in waiting.review.findings] == ["UNKNOWN_PRODUCT"]
    await handle.terminate("test done")
    store.remove(reference, "product_refs", "test-hd-6204")
    again = await start(
        ts_env.client, ts_worker, make_email(pdf=contract_pdf(contract_number(), (THEIRS,)))
    )
    waiting = await wait_for_review(again)
    assert waiting.review is not None
    assert [f.code for f in waiting.review.findings] == ["UNKNOWN_PRODUCT"]
    await again.terminate("test done")
