"""The automation figure over known runs: touchless, reviewed, corrected, rejected, failed, the
touchless rate and the median time to an order, by customer and by day (API and `mcs stats`)."""

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlmodel import Session

from models.db import make_engine
from models.orders import OrderPayload
from models.runs import ReviewDecision, ReviewInfo, RunRecord, RunStatus, RunView
from settings import Settings

DAY = datetime(2001, 2, 3, 9, tzinfo=UTC)  # a day no other test's runs finished on


def view(n: int, status: RunStatus, customer: str, seconds: float = 60, **more: object) -> RunView:
    started = DAY + timedelta(hours=n)
    finished = started + timedelta(seconds=seconds)
    return RunView.model_validate(
        {"workflow_id": f"stats-{n}-{os.getpid()}", "status": status, "customer_id": customer,
         "started_at": started, "finished_at": finished, **more}
    )  # fmt: skip


def corrected_review() -> ReviewInfo:
    decision = ReviewDecision(decision="approve", reviewer="anna", order_payload=OrderPayload())
    return ReviewInfo(kind="order", reason="UNKNOWN_PRODUCT", decision=decision)


RUNS = [
    view(1, RunStatus.SUCCESS, "C001", 30),  # touchless
    view(2, RunStatus.SUCCESS, "C001", 90),  # touchless
    view(3, RunStatus.SUCCESS, "C002", 600, review=corrected_review()),  # reviewed, corrected
    view(4, RunStatus.SUCCESS, "C001", 5, warnings=["duplicate of x: order already created"]),
    view(5, RunStatus.REJECTED, "C002"),
    view(6, RunStatus.ERP_ORDER_FAILED, "C002"),
    view(30, RunStatus.SUCCESS, "C002", 120),  # touchless, the next day
]


def stored(settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        for run in RUNS:
            record = session.get(RunRecord, run.workflow_id) or RunRecord(
                workflow_id=run.workflow_id
            )
            record.keep(run)
            assert run.finished_at is not None
            record.updated_at = run.finished_at
            session.add(record)
        session.commit()
    engine.dispose()


async def test_the_figure_over_known_runs(settings: Settings, api_url: str) -> None:
    stored(settings)
    window = {"since": DAY.isoformat(), "until": (DAY + timedelta(days=2)).isoformat()}
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": "test-key"}) as api:
        answer = await api.get("/v1/stats", params={**window, "group_by": "customer"})
        by_day = (await api.get("/v1/stats", params={**window, "group_by": "day"})).json()
        anonymous = await api.get("/v1/stats", headers={"X-API-Key": ""})
    assert anonymous.status_code == 401
    figures = answer.json()
    overall = {k: v for k, v in figures.items() if k != "groups"}
    assert overall == {
        "runs": 7, "touchless": 3, "reviewed": 1, "corrected": 1, "rejected": 1, "failed": 1,
        "touchless_rate": 0.75, "median_seconds_to_order": 105.0,  # of 30, 90, 600 and 120 s
    }  # fmt: skip
    c1, c2 = figures["groups"]
    assert (c1["key"], c1["touchless"], c1["touchless_rate"]) == ("C001", 2, 1.0)
    assert (c2["key"], c2["reviewed"], c2["rejected"], c2["touchless_rate"]) == ("C002", 1, 1, 0.5)
    assert [(g["key"], g["runs"]) for g in by_day["groups"]] == [
        ("2001-02-03", 6),
        ("2001-02-04", 1),
    ]
    cli = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "mcs"), "stats", "--since", window["since"],
        "--until", window["until"], "--by", "customer", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "MCS_API_PORT": str(settings.api_port), "MCS_API_KEYS": "test-key"},
    )  # fmt: skip
    table = (await cli.communicate())[0].decode().splitlines()
    assert table[0].split() == ["runs", "touchless", "reviewed", "corrected", "rejected", "failed",
                                "touchless", "%", "median", "s"]  # fmt: skip
    assert table[1].split() == ["all", "7", "3", "1", "1", "1", "1", "75.0", "105.0"]
    assert [row.split()[0] for row in table[2:]] == ["C001", "C002"]
