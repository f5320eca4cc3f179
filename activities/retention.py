"""The blob retention: the files of runs finished longer ago than MCS_BLOB_RETENTION are removed
(raw mails and attachments), unless a newer email stored the same bytes again since."""

import time
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from models.ingest import IngestedMessage
from models.masterdata import utcnow
from models.results import PurgeInput, PurgeResult
from models.runs import RunRecord, RunStatus
from storage.blobs import Blobs

BATCH = 500  # runs per pass; the schedule's next tick takes the rest


class RetentionActivities:
    def __init__(self, engine: Engine, store: Blobs) -> None:
        self._engine = engine
        self._store = store

    @activity.defn
    def purge_blobs(self, input: PurgeInput) -> PurgeResult:
        """Remove the files of old finished runs; each run is marked, so it is done once."""
        cutoff = utcnow() - timedelta(seconds=input.retention_seconds)
        oldest_write = time.time() - input.retention_seconds
        runs = removed = 0
        with Session(self._engine) as session:
            query = (
                select(RunRecord)
                .where(RunRecord.updated_at < cutoff, col(RunRecord.purged_at).is_(None))
                .where(RunRecord.status != RunStatus.RUNNING)
                .limit(BATCH)
            )
            for run in session.exec(query).all():
                raw = select(IngestedMessage.content_sha256).where(
                    IngestedMessage.workflow_id == run.workflow_id
                )
                for digest in {*(run.blobs or []), *session.exec(raw).all()}:
                    written = self._store.written(digest)
                    if written is not None and written < oldest_write:  # not stored again since
                        self._store.delete(digest)
                        removed += 1
                run.purged_at = utcnow()
                session.add(run)
                runs += 1
                activity.heartbeat(runs)
            session.commit()
        return PurgeResult(runs=runs, blobs=removed)
