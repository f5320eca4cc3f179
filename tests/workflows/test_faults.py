"""Bad days on the time-skipping server: ERPs that lose answers or ignore Idempotency-Key, an
order still in progress, a database away at the start of a run."""

import asyncio

import httpx
from temporalio.testing import WorkflowEnvironment

from models.db import make_engine
from models.runs import RunStatus
from sandbox.demo import make_email
from sandbox.faults import Faults
from settings import Settings
from tests.helpers import Sims, audited, run, start


def orders_under(sims: Sims, key: str) -> list[dict[str, object]]:
    return [o for o in sims.erp_orders.values() if o["audit"].get("idempotency_key") == key]  # type: ignore[attr-defined]


async def test_a_lost_answer_from_an_erp_that_ignores_the_key_is_still_one_order(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    sims.erp_faults.faults = Faults(ignore_idempotency=True, drop_after_commit_next=1)
    result = await run(ts_env.client, ts_worker, make_email())
    assert result.status == RunStatus.SUCCESS, result.errors
    [order] = orders_under(sims, result.idempotency_key)  # committed once, found by its key
    assert order["sales_order_no"] == result.sales_order_no


async def test_the_same_erp_without_the_lookup_would_have_made_two_orders(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    """The control: the simulator really does create a second order for a repeated key."""
    sims.erp_faults.faults = Faults(ignore_idempotency=True)
    line = {"product_code": "P-100", "quantity": 1}
    body = {
        "order_payload": {"customer_id": "C1", "lines": [line]},
        "audit": {"idempotency_key": "control-key"},
    }
    headers = {"Authorization": "Bearer erp-test-key", "Idempotency-Key": "control-key"}
    async with httpx.AsyncClient(base_url=sims.erp_url) as erp:
        first = await erp.post("/v1/orders", json=body, headers=headers)
        second = await erp.post("/v1/orders", json=body, headers=headers)
        found = (await erp.get("/v1/orders", params={"idempotency_key": "control-key"})).json()
    assert first.json()["sales_order_no"] != second.json()["sales_order_no"]
    assert len(found["orders"]) == 2


async def test_an_order_in_progress_is_asked_again(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    sims.erp_faults.faults = Faults(fail_next=1, fail_status=409)
    sims.erp_faults.requests = 0
    result = await run(ts_env.client, ts_worker, make_email())
    assert result.status == RunStatus.SUCCESS, result.errors
    assert sims.erp_faults.requests == 2  # 409; then, the lookup finding nothing, the create
    assert len(orders_under(sims, result.idempotency_key)) == 1


async def test_a_database_away_at_the_start_delays_the_run_but_keeps_it(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    engine = make_engine(ts_worker.db_url)
    with engine.begin() as connection:  # SQLite's or PostgreSQL's (MCS_TEST_DATABASE)
        connection.exec_driver_sql("ALTER TABLE idempotency_records RENAME TO idempotency_away")
    try:
        handle = await start(ts_env.client, ts_worker, make_email())
        for _ in range(200):
            failed = [
                a for a in audited(engine, handle.id)
                if a.step == "check_idempotency" and a.outcome == "error"
            ]  # fmt: skip
            if len(failed) >= 4:  # more than the 3 attempts that used to fail the run
                break
            await asyncio.sleep(0.05)
        assert len(failed) >= 4
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE idempotency_away RENAME TO idempotency_records")
        engine.dispose()
    result = await handle.result()
    assert result.status == RunStatus.SUCCESS, result.errors
