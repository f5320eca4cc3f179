"""MCS learns from a reviewer's correction: a customer's own part number, corrected once to one of
our products, orders that product in the customer's next contract without a review. What is
learned is masterdata a person can see, audit and delete; `propose` learns nothing until a person
approves it."""

import uuid

import httpx
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from matching.index import normalise_filename
from models import masterdata_store as store
from models.actions import Action
from models.db import make_engine
from models.masterdata import ProductRef, ProductRefBase
from models.runs import ReviewDecision, RunStatus, RunView
from sandbox.demo import contract_number, contract_pdf, make_email, unmatched_filename
from settings import Settings
from tests.helpers import Sims, running_worker, start, wait_for_review
from workflows.sales_email import SalesEmailWorkflow

KEY = {"X-API-Key": "test-key"}
MD = "/v1/masterdata"


async def corrected(handle: WorkflowHandle[SalesEmailWorkflow, RunView], ours: str) -> RunView:
    """Approve the order review with the unknown line's code replaced by `ours`."""
    waiting = await wait_for_review(handle)
    assert waiting.review is not None and waiting.order_payload is not None
    assert [f.code for f in waiting.review.findings] == ["UNKNOWN_PRODUCT"]
    draft = waiting.order_payload
    lines = [line.model_copy(update={"product_code": ours}) if n == 1 else line
             for n, line in enumerate(draft.lines)]  # fmt: skip
    fixed = draft.model_copy(update={"lines": lines})
    decision = ReviewDecision(decision="approve", reviewer="anna", order_payload=fixed)
    await handle.execute_update(SalesEmailWorkflow.review, decision)
    return await handle.result()


def contract(theirs: str) -> bytes:
    return contract_pdf(contract_number(), ("P-100", theirs))


async def test_a_correction_teaches_the_customers_code_and_deleting_it_unlearns(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    theirs = f"HD-{uuid.uuid4().hex[:6].upper()}"
    first = await start(ts_env.client, ts_worker, make_email(pdf=contract(theirs)))
    taught = await corrected(first, "P-200")
    assert taught.status == RunStatus.SUCCESS
    [learned] = taught.learned
    assert (learned.ref, learned.product_code, learned.customer_id, learned.active) == (
        theirs, "P-200", "C001", True)  # fmt: skip
    second = await (
        await start(ts_env.client, ts_worker, make_email(pdf=contract(theirs)))
    ).result()
    assert second.status == RunStatus.SUCCESS and second.review is None, second  # touchless
    line = sims.erp_orders[second.idempotency_key]["order_payload"]["lines"][1]  # type: ignore[index]
    assert (line["product_code"], line["customer_ref"]) == ("P-200", theirs)
    engine = make_engine(ts_worker.db_url)
    with Session(engine) as session:
        row = session.get(ProductRef, learned.ref_id)
        assert row is not None and (row.source, row.learned_from, row.created_by) == (
            "learned", taught.workflow_id, "anna")  # fmt: skip
        audit = session.exec(select(Action).where(Action.target == f"product_refs/{row.ref_id}"))
        assert [(a.actor, a.action) for a in audit] == [("anna", "masterdata.learned")]
        store.remove(session, "product_refs", learned.ref_id)  # a person undoes it
    third = await start(ts_env.client, ts_worker, make_email(pdf=contract(theirs)))
    waiting = await wait_for_review(third)
    assert waiting.review is not None and waiting.review.findings[0].code == "UNKNOWN_PRODUCT"
    await third.terminate("test done")
    engine.dispose()


async def test_propose_learns_nothing_until_a_person_approves(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str
) -> None:
    proposing = settings.model_copy(
        update={"learn_from_reviews": "propose", "task_queue": f"learn-{uuid.uuid4()}"}
    )
    theirs = f"HD-{uuid.uuid4().hex[:6].upper()}"
    async with running_worker(ts_env.client, proposing):
        first = await start(ts_env.client, proposing, make_email(pdf=contract(theirs)))
        [proposal] = (await corrected(first, "P-200")).learned
        assert proposal.active is False
        still = await start(ts_env.client, proposing, make_email(pdf=contract(theirs)))
        await corrected(still, "P-200")  # reviewed again: a proposal resolves nothing
        engine = make_engine(proposing.db_url)
        with Session(engine) as session:
            row = session.get(ProductRef, proposal.ref_id)
            assert row is not None
            approved = ProductRefBase.model_validate(row).model_copy(update={"active": True})
            store.upsert(session, "product_refs", approved)
        engine.dispose()
        third = await (
            await start(ts_env.client, proposing, make_email(pdf=contract(theirs)))
        ).result()
        assert third.status == RunStatus.SUCCESS and third.review is None


async def chosen(handle: WorkflowHandle[SalesEmailWorkflow, RunView], customer: str) -> RunView:
    """Approve the customer review, naming `customer`."""
    waiting = await wait_for_review(handle)
    assert waiting.review is not None and waiting.review.reason == "CUSTOMER_MATCH_LOW_SCORE"
    decision = ReviewDecision(decision="approve", reviewer="anna", customer_id=customer)
    await handle.execute_update(SalesEmailWorkflow.review, decision)
    return await handle.result()


async def test_a_chosen_customer_learns_the_contracts_name_and_deleting_it_unlearns(
    ts_env: WorkflowEnvironment, ts_worker: Settings, api_url: str
) -> None:
    name = unmatched_filename()
    taught = await chosen(await start(ts_env.client, ts_worker, make_email(filename=name)), "C001")
    assert taught.status == RunStatus.SUCCESS
    [learned] = taught.learned
    alias = normalise_filename(name)
    assert (learned.kind, learned.ref, learned.customer_id, learned.active) == (
        "customer_alias", alias, "C001", True)  # fmt: skip
    async with httpx.AsyncClient(base_url=api_url, headers=KEY) as api:
        customer = (await api.get(f"{MD}/customers/C001")).json()
        [seen] = [a for a in customer["learned_aliases"] if a["alias"] == alias]
        assert (seen["source"], seen["learned_from"], seen["created_by"], seen["active"]) == (
            "learned", taught.workflow_id, "anna", True)  # fmt: skip
        audit = (await api.get("/v1/audit", params={"target": "customers/C001"})).json()
        assert any(a["action"] == "masterdata.learned" and alias in a["summary"] for a in audit)
        second = await (await start(ts_env.client, ts_worker, make_email(filename=name))).result()
        assert second.status == RunStatus.SUCCESS and second.review is None, second  # touchless
        assert second.customer_id == "C001" and second.learned == []
        unnamed = {k: v for k, v in customer.items() if k != "learned_aliases"}
        assert (await api.put(f"{MD}/customers/C001", json=unnamed)).status_code == 200
        kept = (await api.get(f"{MD}/customers/C001")).json()["learned_aliases"]
        assert alias in [a["alias"] for a in kept]  # a write that does not name them keeps them
        gone = await api.delete(f"{MD}/customers/C001/learned_aliases/{alias}")
        assert gone.status_code == 204
        again = await api.delete(f"{MD}/customers/C001/learned_aliases/{alias}")
        assert again.status_code == 404 and alias in again.json()["detail"]
    third = await start(ts_env.client, ts_worker, make_email(filename=name))
    waiting = await wait_for_review(third)  # forgotten: reviewed again
    assert waiting.review is not None and waiting.review.reason == "CUSTOMER_MATCH_LOW_SCORE"
    await third.terminate("test done")


async def test_a_proposed_alias_matches_nothing_until_approved(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str
) -> None:
    proposing = settings.model_copy(
        update={"learn_from_reviews": "propose", "task_queue": f"learn-{uuid.uuid4()}"}
    )
    name = unmatched_filename()
    async with running_worker(ts_env.client, proposing):
        first = await start(ts_env.client, proposing, make_email(filename=name))
        [proposal] = (await chosen(first, "C001")).learned
        assert proposal.kind == "customer_alias" and proposal.active is False
        await chosen(await start(ts_env.client, proposing, make_email(filename=name)), "C001")
        async with httpx.AsyncClient(base_url=api_url, headers=KEY) as api:
            path = f"{MD}/customers/C001/learned_aliases/{proposal.ref}/approve"
            approved = await api.post(path)
            assert approved.status_code == 200, approved.text
        third = await (await start(ts_env.client, proposing, make_email(filename=name))).result()
        assert third.status == RunStatus.SUCCESS and third.review is None
