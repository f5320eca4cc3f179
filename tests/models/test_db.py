"""Migrations, the unmigrated-database guard, and a whole run on PostgreSQL."""

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from models import masterdata_store
from models.db import insert_or, make_engine
from models.masterdata import utcnow
from models.migrate import SchemaOutdated, ensure_migrated, upgrade
from models.runs import OrderedContract, ReviewDecision, RunStatus
from sandbox.demo import contract_number, contract_pdf, demo_masterdata, make_email
from sandbox.postgres import create_database
from settings import Settings
from tests.helpers import installed, run, running_worker, start, wait_for_review
from workflows.sales_email import SalesEmailWorkflow


def test_unmigrated_database_is_refused_until_upgraded(data_dir: Path) -> None:
    url = f"sqlite:///{data_dir / 'fresh.db'}"
    engine = make_engine(url)
    with pytest.raises(SchemaOutdated, match="mcs db upgrade"):
        ensure_migrated(engine)
    upgrade(url)
    ensure_migrated(engine)
    engine.dispose()


async def test_worker_and_api_commands_refuse_an_unmigrated_database(data_dir: Path) -> None:
    env = {**os.environ, "MCS_ENV": "dev", "MCS_DATABASE_URL": f"sqlite:///{data_dir / 'empty.db'}"}
    for command in ("worker", "api"):
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "mcs"), command, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode != 0
        assert b"run `mcs db upgrade`" in output


async def test_a_run_on_postgresql(
    postgres: str, settings: Settings, ts_env: WorkflowEnvironment, api_url: str
) -> None:
    url = create_database(postgres, f"run_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        masterdata_store.apply(session, demo_masterdata())
    engine.dispose()
    on_pg = settings.model_copy(update={"database_url": url, "task_queue": f"pg-{uuid.uuid4()}"})
    # a contract number holding NUL (read so by Dify), which PostgreSQL cannot store in text
    pdf = contract_pdf(contract_number("NUL\x00"))
    async with running_worker(ts_env.client, on_pg):
        ordering = run(ts_env.client, on_pg, email := make_email(pdf=pdf))
        first = await asyncio.wait_for(ordering, timeout=60)  # a run that cannot write never ends
        second = await run(ts_env.client, on_pg, email)
        again = await start(ts_env.client, on_pg, make_email(pdf=pdf))  # a new mail, same contract
        state = await wait_for_review(again)
        reject = ReviewDecision(decision="reject", reviewer="ops")
        await again.execute_update(SalesEmailWorkflow.review, reject)
    assert first.status == RunStatus.SUCCESS and "NUL\x00" in str(first.contract_no)
    assert second.sales_order_no == first.sales_order_no  # idempotency record read from PostgreSQL
    assert state.review is not None  # the order guard's claim found the contract's first order
    assert [f.code for f in state.review.findings] == ["DUPLICATE_CONTRACT"]
    assert str(first.sales_order_no) in state.review.findings[0].message


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_an_upsert_says_whether_it_wrote_its_row(
    database: str, data_dir: Path, request: pytest.FixtureRequest
) -> None:
    """The order guard's claim and finalize read the row count of `INSERT ... ON CONFLICT DO
    NOTHING`: 1 when written, 0 when the row was there (psycopg's said -1 both times)."""
    url = f"sqlite:///{data_dir / f'upsert-{uuid.uuid4().hex[:8]}.db'}"
    if database == "postgresql":
        url = create_database(request.getfixturevalue("postgres"), f"up_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    engine = make_engine(url)
    claim = {"customer_id": "C001", "contract_no": "HT-1", "workflow_id": "w", "sales_order_no": ""}
    written = []
    for _ in range(2):
        with engine.begin() as connection:
            row = insert_or(connection.dialect.name, OrderedContract).values(
                **claim, created_at=utcnow()
            )
            written.append(connection.execute(row.on_conflict_do_nothing()).rowcount)
    engine.dispose()
    assert written == [1, 0]


async def test_a_postgresql_server_away_at_the_start_of_a_run_delays_it_but_keeps_it(
    settings: Settings, ts_env: WorkflowEnvironment, api_url: str
) -> None:
    from sandbox.postgres import postgres_instance

    with installed(), postgres_instance() as server:
        url = create_database(server.url, f"outage_{uuid.uuid4().hex[:8]}")
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            masterdata_store.apply(session, demo_masterdata())
        engine.dispose()
        on_pg = settings.model_copy(
            update={"database_url": url, "task_queue": f"pg-{uuid.uuid4()}"}
        )
        async with running_worker(ts_env.client, on_pg):
            server.stop()
            handle = await start(ts_env.client, on_pg, make_email())
            await asyncio.sleep(3)  # the first step fails, again and again, while it is away
            state = await handle.query(SalesEmailWorkflow.status)
            assert state.status == RunStatus.RUNNING and state.step == "check_idempotency"
            server.start()
            result = await handle.result()
    assert result.status == RunStatus.SUCCESS, result.errors


def test_the_postgresql_pool_is_sized_by_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """MCS_DATABASE_POOL_SIZE: the connections each process keeps (replicas x (pool + 10) must
    stay under PostgreSQL's max_connections); no connection is opened to size it."""
    monkeypatch.setenv("MCS_DATABASE_POOL_SIZE", "5")
    settings = Settings(database_url="postgresql+psycopg://mcs@127.0.0.1:9/mcs")
    engine = make_engine(settings.db_url, settings.database_pool_size)
    assert (engine.pool.size(), engine.pool._max_overflow) == (5, 10)  # type: ignore[attr-defined]
    assert make_engine(settings.db_url).pool.size() == 20  # type: ignore[attr-defined]
    monkeypatch.setenv("MCS_DATABASE_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="database_pool_size"):
        Settings()
