"""SalesEmailWorkflow on the time-skipping server, with real activities and simulators over HTTP."""

import asyncio
import uuid
from pathlib import Path

from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from models.db import make_engine
from models.migrate import upgrade
from models.runs import AuditEvent, ReviewDecision, RunStatus
from models.steps import Step
from sandbox.demo import contract_number, contract_pdf, make_email, unmatched_filename
from sandbox.pdf import make_pdf
from settings import Settings
from storage.blobs import BlobStore
from tests.helpers import (
    Sims,
    audited,
    by_reference,
    eventually_mailed,
    mails_to,
    run,
    running_worker,
    start,
    wait_for_review,
)
from workflows import policies
from workflows.sales_email import SalesEmailWorkflow


async def test_happy_path_creates_one_order_and_tells_the_salesperson(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    event = make_email(pdf=contract_pdf(number := contract_number()))
    result = await run(ts_env.client, ts_worker, event)
    assert result.status == RunStatus.SUCCESS, result.errors
    assert result.sales_order_no and result.sales_order_no.startswith("SO-")
    assert result.order_url and result.sales_order_no in result.order_url
    assert result.customer_id == "C001" and result.contact_id == "K001"
    assert result.file_url and "/files/" in result.file_url and "signature=" in result.file_url
    order = sims.erp_orders[result.idempotency_key]
    assert order["sales_order_no"] == result.sales_order_no
    assert order["order_payload"]["contract_no"] == number  # type: ignore[index]
    [mail] = [m for m in sims.smtp.messages if m["X-MCS-Workflow-Id"] == result.workflow_id]
    assert result.sales_order_no in str(mail["Subject"]) and "sales.li@mcs.example" in mail["To"]
    text = mail.get_content()
    assert f"Contract no.: {number}" in text and "上海华东机械有限公司 (C001)" in text
    assert result.finished_at is not None and result.errors == []


async def test_unknown_sender_is_reported(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    email = make_email(sender="nobody@nowhere.example").model_copy(
        update={"to": ["relay-victim@elsewhere.example", "sales@mcs.example"]}
    )
    result = await run(ts_env.client, ts_worker, email)
    assert result.status == RunStatus.UNKNOWN_CONTACT
    assert [e.code for e in result.errors] == ["CONTACT_NOT_FOUND"]
    assert any("Unknown sender" in s for s in mails_to(sims, "sales-ops@localhost"))
    # the outcome goes to the reviewers of the settings, never to an address the mail named
    mine = [m for m in sims.smtp.messages if m["X-MCS-Workflow-Id"] == result.workflow_id]
    assert mine and all("elsewhere.example" not in str(m["To"]) + str(m["Cc"]) for m in mine)


async def test_mail_without_keyword_is_ignored(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    result = await run(ts_env.client, ts_worker, make_email(subject="Invoice October"))
    assert result.status == RunStatus.IGNORED
    assert [e.code for e in result.errors] == ["NOT_CONTRACT_MAIL"]


async def test_mail_without_pdf_is_ignored(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    result = await run(ts_env.client, ts_worker, make_email(filename=None))
    assert result.status == RunStatus.IGNORED
    assert [e.code for e in result.errors] == ["PDF_NOT_FOUND"]


async def test_low_score_waits_for_review_and_approval_names_the_customer(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    handle = await start(ts_env.client, ts_worker, make_email(filename=unmatched_filename()))
    state = await wait_for_review(handle)
    assert state.review is not None
    assert state.review.reason == "CUSTOMER_MATCH_LOW_SCORE"
    assert state.review.contact_customer_id == "C001"
    assert len(state.review.candidates) <= 3
    await eventually_mailed(sims, "sales-ops@localhost", "Review needed")
    decision = ReviewDecision(decision="approve", customer_id="C001", reviewer="ops-anna")
    accepted = await handle.execute_update(SalesEmailWorkflow.review, decision)
    assert accepted.customer_id == "C001"
    result = await handle.result()
    assert result.status == RunStatus.SUCCESS
    assert result.customer_id == "C001"
    assert (
        result.review and result.review.decision and result.review.decision.reviewer == "ops-anna"
    )


async def test_customer_contact_mismatch_goes_to_review_and_reject_ends_it(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    orders_before = len(sims.erp_orders)
    event = make_email(filename="采购合同_远航科技_20261120.pdf")
    handle = await start(ts_env.client, ts_worker, event)
    state = await wait_for_review(handle)
    assert state.review is not None and state.review.reason == "CUSTOMER_CONTACT_MISMATCH"
    assert state.review.candidates[0].customer_id == "C002"
    await handle.signal(
        SalesEmailWorkflow.review_decision, ReviewDecision(decision="reject", reviewer="ops-ben")
    )
    result = await handle.result()
    assert result.status == RunStatus.REJECTED
    assert len(sims.erp_orders) == orders_before


async def test_review_without_decision_is_reminded_then_expires(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    handle = await start(ts_env.client, ts_worker, make_email(filename=unmatched_filename()))
    result = await handle.result()  # the 72 h timer passes on the time-skipping server
    assert result.status == RunStatus.REVIEW_EXPIRED
    assert result.errors[-1].code == "CUSTOMER_MATCH_LOW_SCORE"
    subjects = [
        str(m["Subject"]) for m in sims.smtp.messages if m["X-MCS-Workflow-Id"] == handle.id
    ]
    assert [s.split(":")[0] for s in subjects] == [
        "[MCS] Review needed",
        "[MCS] Reminder, review still open",
        "[MCS] review expired",
    ]


async def test_unreadable_contract_fails_parsing(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    event = make_email(pdf=make_pdf(["A holiday photo"]))
    result = await run(ts_env.client, ts_worker, event)
    assert result.status == RunStatus.CONTRACT_PARSE_FAILED
    assert result.errors[-1].code == "DIFY_CONTRACT_FAILED"


async def test_blocked_payload_stops_before_the_erp(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    before = sims.erp_faults.requests
    result = await run(ts_env.client, ts_worker, make_email(pdf=contract_pdf("HT-B", ("BLOCK-1",))))
    assert result.status == RunStatus.ORDER_PAYLOAD_BLOCKED
    assert result.errors[-1].code == "DIFY_ORDER_PAYLOAD_BLOCKED"
    assert sims.erp_faults.requests == before


async def test_erp_rejection_is_not_retried(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    before = sims.erp_faults.requests
    result = await run(
        ts_env.client, ts_worker, make_email(pdf=contract_pdf("HT-R", ("REJECT-7",)))
    )
    assert result.status == RunStatus.ERP_ORDER_FAILED
    assert result.errors[-1].code == "ERP_CREATE_FAILED"
    assert "UNKNOWN_PRODUCT" in result.errors[-1].message
    assert sims.erp_faults.requests - before == 1


async def test_remote_steps_are_scheduled_with_their_own_timeout_and_retries(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    handle = await start(ts_env.client, ts_worker, make_email())
    assert (await handle.result()).status == RunStatus.SUCCESS
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name: (
            e.activity_task_scheduled_event_attributes.start_to_close_timeout.ToTimedelta(),
            e.activity_task_scheduled_event_attributes.retry_policy.maximum_attempts,
        )
        for e in (await handle.fetch_history()).events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert scheduled == {
        step: (rule.timeout, rule.retry.maximum_attempts)
        for step, rule in policies.POLICIES.items()
        if rule.remote
    }


async def test_dify_503_twice_is_retried_to_success(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    sims.dify_faults.faults.fail_next = 2
    sims.dify_faults.requests = 0
    result = await run(ts_env.client, ts_worker, make_email())
    assert result.status == RunStatus.SUCCESS
    assert sims.dify_faults.requests == 4  # two 503s, then the contract and the order call


async def test_dify_400_is_not_retried(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    sims.dify_faults.faults.fail_next = 1
    sims.dify_faults.faults.fail_status = 400
    sims.dify_faults.requests = 0
    result = await run(ts_env.client, ts_worker, make_email())
    assert result.status == RunStatus.CONTRACT_PARSE_FAILED
    assert sims.dify_faults.requests == 1


async def test_non_json_answer_is_retried(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    sims.dify_faults.faults.bad_answer_next = 1
    result = await run(ts_env.client, ts_worker, make_email())
    assert result.status == RunStatus.SUCCESS


async def test_erp_503_is_retried_with_the_same_idempotency_key(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    sims.erp_faults.faults.fail_next = 2
    result = await run(ts_env.client, ts_worker, make_email())
    assert result.status == RunStatus.SUCCESS
    assert sims.erp_orders[result.idempotency_key]["sales_order_no"] == result.sales_order_no


async def test_same_email_twice_gives_one_order(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    event = make_email()
    first = await run(ts_env.client, ts_worker, event)
    orders = len(sims.erp_orders)
    dify_calls = sims.dify_faults.requests
    second = await run(ts_env.client, ts_worker, event)
    assert first.status == second.status == RunStatus.SUCCESS
    assert second.sales_order_no == first.sales_order_no
    assert second.idempotency_key == first.idempotency_key
    assert len(sims.erp_orders) == orders
    assert sims.dify_faults.requests == dify_calls  # short-circuited: Dify not called again
    assert any("duplicate" in w for w in second.warnings)


async def test_a_pdf_missing_from_the_blob_store_fails_the_run_with_its_code(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    """A failed local step ends the run with its status and code; the salesperson is told."""
    event = by_reference(make_email(), ts_worker)
    assert event.pdf is not None
    BlobStore(ts_worker.blob_dir).path(event.pdf.sha256).unlink()
    mails = len(sims.smtp.messages)
    handle = await ts_env.client.start_workflow(
        SalesEmailWorkflow.run, event, id=f"test-{uuid.uuid4()}", task_queue=ts_worker.task_queue
    )
    result = await handle.result()
    assert result.status == RunStatus.FAILED
    assert [(e.code, e.step) for e in result.errors] == [("FILE_UPLOAD_FAILED", "upload_pdf")]
    assert "not in the blob store" in result.errors[0].message
    assert len(sims.smtp.messages) == mails + 1


async def test_missing_masterdata_fails_the_run_as_masterdata_invalid(
    ts_env: WorkflowEnvironment, ts_worker: Settings, tmp_path: Path
) -> None:
    empty = ts_worker.model_copy(
        update={"data_dir": tmp_path, "database_url": "", "task_queue": f"empty-{uuid.uuid4()}"}
    )
    upgrade(empty.db_url)  # an up-to-date database without masterdata
    async with running_worker(ts_env.client, empty):
        result = await run(ts_env.client, empty, make_email())
    assert result.status == RunStatus.FAILED
    assert [(e.code, e.step) for e in result.errors] == [("MASTERDATA_INVALID", "load_masterdata")]


async def test_a_database_away_after_the_order_delays_the_record_but_keeps_the_run(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims, tmp_path: Path
) -> None:
    """The run's record is written after the order exists: while the database refuses it, the
    run keeps trying (more often than the 3 attempts of other local steps), then ends SUCCESS."""
    from sqlalchemy import text

    from devstack import load_demo_masterdata
    from models.runs import IdempotencyRecord, RunRecord

    own = ts_worker.model_copy(
        update={
            "database_url": f"sqlite:///{tmp_path / 'mcs.db'}",
            "task_queue": f"db-away-{uuid.uuid4()}",
        }
    )
    load_demo_masterdata(own)
    engine = make_engine(own.db_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE runs RENAME TO runs_away"))
    async with running_worker(ts_env.client, own):
        handle = await start(ts_env.client, own, make_email())
        failed: list[AuditEvent] = []
        for _ in range(200):
            attempts = audited(engine, handle.id)
            failed = [a for a in attempts if a.step == "finalize" and a.outcome == "error"]
            if len(failed) >= 3:
                break
            await asyncio.sleep(0.05)
        assert len(failed) >= 3, "finalize never failed three times"
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE runs_away RENAME TO runs"))
        result = await handle.result()
    assert result.status == RunStatus.SUCCESS and result.sales_order_no
    with Session(engine) as session:
        record = session.get(RunRecord, handle.id)
        assert record is not None and record.status == RunStatus.SUCCESS
        assert session.get(IdempotencyRecord, result.idempotency_key) is not None
    engine.dispose()
    assert "no such table: runs" in failed[0].detail


async def test_failed_notification_is_a_warning(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    sims.smtp.fail = True
    result = await run(ts_env.client, ts_worker, make_email())
    assert result.status == RunStatus.SUCCESS
    assert any(w.startswith("notification success failed") for w in result.warnings)


async def test_every_step_attempt_is_audited(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    result = await run(ts_env.client, ts_worker, make_email())
    engine = make_engine(ts_worker.db_url)
    steps: set[str] = set()
    for _ in range(100):
        steps = {row.step for row in audited(engine, result.workflow_id) if row.outcome == "ok"}
        if "finalize" in steps:
            break
        await asyncio.sleep(0.05)
    engine.dispose()
    # a successful run passes every step but learning, which only a corrected review reaches
    assert steps == set(Step) - {Step.LEARN_FROM_REVIEW}
