"""The blob retention: files of runs finished longer ago than the retention go, unless stored
again since; the daily Schedule runs it."""

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.retention import RetentionActivities
from models.db import make_engine
from models.ingest import IngestedMessage
from models.masterdata import utcnow
from models.migrate import upgrade
from models.results import PurgeInput
from models.runs import RunRecord, RunStatus
from settings import Settings
from storage.blobs import BlobStore
from temporal_client import retention_id, sync_schedules
from tests.helpers import running_worker
from workflows.blob_retention import BlobRetentionWorkflow

DAY = 86400.0
RETAIN = PurgeInput(retention_seconds=90 * DAY)


def aged(store: BlobStore, data: bytes, days: float) -> str:
    digest = store.put(data)
    then = time.time() - days * DAY
    os.utime(store.path(digest), (then, then))
    return digest


def test_old_runs_lose_their_files_unless_stored_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mcs.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = BlobStore(tmp_path / "blobs")
    pdf, shared, raw = aged(store, b"old pdf", 120), aged(store, b"shared", 120), b"raw mail"
    raw_digest = aged(store, raw, 120)
    fresh = store.put(b"new pdf")
    store.put(b"shared")  # a new email brought the same file: young again
    old_run = f"sales-email-{uuid.uuid4().hex}"
    hundred_days_ago = utcnow() - timedelta(days=100)
    with Session(engine) as session:
        session.add_all([
            RunRecord(workflow_id=old_run, status=RunStatus.SUCCESS, updated_at=hundred_days_ago,
                      blobs=[pdf, shared]),
            RunRecord(workflow_id="sales-email-new", status=RunStatus.SUCCESS, blobs=[fresh]),
            RunRecord(workflow_id="sales-email-waiting", status=RunStatus.RUNNING,
                      updated_at=hundred_days_ago, blobs=[fresh]),
            IngestedMessage(mailbox="m", folder="INBOX", uidvalidity=1, uid=1,
                            content_sha256=raw_digest, workflow_id=old_run),
        ])  # fmt: skip
        session.commit()
    purge = RetentionActivities(engine, store).purge_blobs
    result = ActivityEnvironment().run(purge, RETAIN)
    assert (result.runs, result.blobs) == (1, 2)
    assert not store.exists(pdf) and not store.exists(raw_digest)
    assert store.exists(shared) and store.exists(fresh)
    again = ActivityEnvironment().run(purge, RETAIN)
    assert (again.runs, again.blobs) == (0, 0)  # each run once
    with Session(engine) as session:
        assert session.get(RunRecord, old_run).purged_at is not None  # type: ignore[union-attr]
    engine.dispose()


async def test_the_retention_runs_as_a_workflow_on_a_daily_schedule(
    dev_env: WorkflowEnvironment, settings: Settings, masterdata: None
) -> None:
    mine = settings.model_copy(update={"task_queue": f"retention-{uuid.uuid4()}"})
    changes = await sync_schedules(dev_env.client, mine)
    schedule_id = retention_id(mine)
    assert changes[schedule_id] == "created"
    described = await dev_env.client.get_schedule_handle(schedule_id).describe()
    [interval] = described.schedule.spec.intervals
    assert interval.every == timedelta(days=1)
    async with running_worker(dev_env.client, mine):
        result = await dev_env.client.execute_workflow(
            BlobRetentionWorkflow.run, RETAIN, id=f"retention-{uuid.uuid4()}",
            task_queue=mine.task_queue,
        )  # fmt: skip
    assert result.runs >= 0
    off = mine.model_copy(update={"blob_retention": timedelta(0)})
    assert (await sync_schedules(dev_env.client, off))[schedule_id] == "deleted"
