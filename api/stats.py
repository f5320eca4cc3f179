"""The automation figure: how many orders reached the ERP without a human (`touchless`), how many
a reviewer passed, corrected or rejected, and how long an order took. From the stored run
records, by the time each run finished."""

import statistics
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from models.masterdata import aware
from models.runs import RunRecord, RunStatus, RunView

FAILED = {
    RunStatus.FAILED, RunStatus.CONTRACT_PARSE_FAILED, RunStatus.ORDER_PAYLOAD_BLOCKED,
    RunStatus.ERP_ORDER_FAILED, RunStatus.REVIEW_EXPIRED,
}  # fmt: skip


class Figures(BaseModel):
    """`touchless_rate`: the share of the orders made that no person reviewed."""

    runs: int = 0
    touchless: int = 0  # an ERP order, no review
    reviewed: int = 0  # an ERP order after a review
    corrected: int = 0  # of those, the order corrected by the reviewer
    rejected: int = 0
    failed: int = 0
    touchless_rate: float | None = None
    median_seconds_to_order: float | None = None


class Group(Figures):
    key: str


class Stats(Figures):
    groups: list[Group] = []


def figures(runs: list[RunView]) -> Figures:
    """The figures of these runs (a duplicate email's run made no order of its own)."""
    orders = [r for r in runs if r.status == RunStatus.SUCCESS and not _duplicate(r)]
    touchless = [r for r in orders if r.review is None]
    reviewed = [r for r in orders if r.review is not None]
    seconds = [
        (r.finished_at - r.started_at).total_seconds()
        for r in orders
        if r.finished_at and r.started_at
    ]
    return Figures(
        runs=len(runs),
        touchless=len(touchless),
        reviewed=len(reviewed),
        corrected=sum(1 for r in reviewed if _corrected(r)),
        rejected=sum(1 for r in runs if r.status == RunStatus.REJECTED),
        failed=sum(1 for r in runs if r.status in FAILED),
        touchless_rate=round(len(touchless) / len(orders), 4) if orders else None,
        median_seconds_to_order=round(statistics.median(seconds), 3) if seconds else None,
    )


def stats(
    db: Session, since: datetime | None, until: datetime | None, group_by: str | None
) -> Stats:
    """The figures of the runs that finished in [since, until), grouped by customer or day."""
    waiting = [RunStatus.RUNNING, RunStatus.MANUAL_REVIEW]
    query = select(RunRecord).where(col(RunRecord.status).not_in(waiting))
    if since is not None:
        query = query.where(col(RunRecord.updated_at) >= aware(since))
    if until is not None:
        query = query.where(col(RunRecord.updated_at) < aware(until))
    done = [record.view() for record in db.exec(query)]
    groups = _grouped(done, KEYS[group_by]) if group_by else []
    return Stats(**figures(done).model_dump(), groups=groups)


def _grouped(runs: Iterable[RunView], key: Callable[[RunView], str]) -> list[Group]:
    by: dict[str, list[RunView]] = {}
    for run in runs:
        by.setdefault(key(run), []).append(run)
    return [Group(key=k, **figures(v).model_dump()) for k, v in sorted(by.items())]


KEYS: dict[str, Callable[[RunView], str]] = {
    "customer": lambda run: run.customer_id or "(none)",
    "day": lambda run: (run.finished_at or run.started_at or datetime.min).date().isoformat(),
}


def _duplicate(run: RunView) -> bool:
    return any(w.startswith("duplicate of ") for w in run.warnings)


def _corrected(run: RunView) -> bool:
    review = run.review
    decided = review.decision if review else None
    return bool(review and review.kind == "order" and decided and decided.order_payload)


def stats_table(answer: dict[str, Any]) -> list[str]:
    """The lines of `mcs stats` for an answer of `GET /v1/stats`: the header, all runs, then
    each group."""
    columns = ("runs", "touchless", "reviewed", "corrected", "rejected", "failed")
    lines = [
        f"{'':<14}" + "".join(f"{c:>10}" for c in columns) + f"{'touchless %':>13}{'median s':>10}"
    ]
    for label, row in [("all", answer), *((g["key"], g) for g in answer["groups"])]:
        rate = row["touchless_rate"]
        median = row["median_seconds_to_order"]
        lines.append(f"{label[:14]:<14}" + "".join(f"{row[c]:>10}" for c in columns)
                     + f"{'-' if rate is None else f'{100 * rate:.1f}':>13}"
                     + f"{'-' if median is None else f'{median:.1f}':>10}")  # fmt: skip
    return lines
