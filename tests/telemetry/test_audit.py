"""The audit writer: rows of step attempts written in batches off the steps' path, none lost."""

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, func
from sqlmodel import Session, select

from models.db import make_engine
from models.masterdata import utcnow
from models.migrate import upgrade
from models.runs import AuditEvent
from telemetry.audit import AuditWriter


def attempt(workflow_id: str, number: int) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id, "run_id": "r", "step": "finalize", "attempt": number,
        "outcome": "ok", "duration_ms": 1.0, "error_code": "", "detail": "", "created_at": utcnow(),
    }  # fmt: skip


def test_rows_added_together_are_one_commit_and_close_writes_the_rest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    upgrade(url)
    engine = make_engine(url)
    commits = []
    event.listen(engine, "commit", lambda connection: commits.append(1))
    writer = AuditWriter(engine, linger=0.2)

    def written() -> int:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(AuditEvent)).one()

    for number in range(50):  # a burst of attempts, as 32 runs in flight make
        writer.add(attempt("wf-burst", number))
    for _ in range(100):
        if written() == 50:
            break
        time.sleep(0.05)
    assert (written(), len(commits)) == (50, 1)
    writer.add(attempt("wf-last", 1))
    writer.close()  # at once, not after the linger: nothing queued is lost when a worker stops
    assert written() == 51
    engine.dispose()
