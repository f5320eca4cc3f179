"""Replay safety: recorded histories must replay on the current workflow code."""

import json
import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from models.codec import PLAIN_CONVERTER
from models.runs import ReviewDecision, RunStatus
from sandbox.demo import contract_number, contract_pdf, make_email
from settings import Settings
from tests.helpers import start, wait_for_review
from workflows.patches import PATCHES, RETIRED_PATCHES
from workflows.sales_email import SalesEmailWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"
RECORD = os.environ.get("MCS_RECORD_HISTORIES", "")  # a file-name suffix, e.g. "-v2"


async def replay(history: WorkflowHistory) -> None:
    replayer = Replayer(workflows=[SalesEmailWorkflow], data_converter=PLAIN_CONVERTER)
    await replayer.replay_workflow(history)


def recorded() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(p.stem, p.read_text()) for p in sorted(HISTORIES.glob("*.json"))
    ]


@pytest.mark.parametrize("history", recorded(), ids=lambda h: h.workflow_id)
async def test_recorded_history_replays(history: WorkflowHistory) -> None:
    await replay(history)


def patches_in(history: WorkflowHistory) -> set[str]:
    """The patch ids whose markers the run recorded."""
    found = set()
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            [payload] = marker.details["patch-data"].payloads
            found.add(json.loads(payload.data)["id"])
    return found


def test_every_patch_is_guarded_by_histories_from_both_sides() -> None:
    """Each `workflow.patched` branch replays a run from before the patch and one after it: the
    old branch may go (deprecate_patch) only together with the histories that still need it."""
    marked = [patches_in(history) for history in recorded()]
    known = set(PATCHES) | set(RETIRED_PATCHES)
    assert set().union(*marked) <= known, "a recorded patch is in neither PATCHES nor RETIRED"
    for position, patch in enumerate(PATCHES):
        assert any(patch in m for m in marked), f"no recorded run with {patch}"
        before = [m for m in marked if not m & set(PATCHES[position:])]
        assert before, f"no recorded run from before {patch}"


async def test_recorded_histories_cover_the_main_outcomes() -> None:
    names = {p.stem for p in HISTORIES.glob("*.json")}
    assert {"success", "review_approved", "review_rejected", "unknown_contact"} <= names


def unauthenticated() -> object:
    """A known contact's contract mail that our mail server found forged."""
    verdict = "mx.mcs.example; spf=fail smtp.mailfrom=huadong.example; dkim=fail; dmarc=fail"
    return make_email().model_copy(update={"auth_results": [verdict]})


@pytest.mark.parametrize(
    ("name", "email", "decision"),
    [
        ("success", make_email(), None),
        ("unknown_contact", make_email(sender="x@unknown.example"), None),
        ("review_approved", make_email(filename="合同_某某不知名公司.pdf"), "approve"),
        ("review_rejected", make_email(filename="采购合同_远航科技.pdf"), "reject"),
        ("order_corrected", make_email(pdf=contract_pdf(contract_number("GUARD-ZERO"))), "fix"),
        ("sender_unauthenticated", unauthenticated(), "approve"),
    ],
)
async def test_fresh_history_replays(
    ts_env: WorkflowEnvironment, ts_worker: Settings, name: str, email: object, decision: str | None
) -> None:
    handle = await start(ts_env.client, ts_worker, email)  # type: ignore[arg-type]
    if decision:
        waiting = await wait_for_review(handle)
        if decision == "fix":  # an order review, approved with the quantity corrected
            assert waiting.order_payload is not None
            draft = waiting.order_payload
            lines = [line.model_copy(update={"quantity": 10}) for line in draft.lines]
            corrected = draft.model_copy(update={"lines": lines})
            chosen = ReviewDecision(decision="approve", reviewer="ops", order_payload=corrected)
        else:
            chosen = ReviewDecision(decision=decision, customer_id="C001", reviewer="ops")
        await handle.execute_update(SalesEmailWorkflow.review, chosen)
    result = await handle.result()
    assert result.status != RunStatus.FAILED
    history = await handle.fetch_history()
    await replay(history)
    if RECORD:
        save(HISTORIES / f"{name}{RECORD}.json", history.to_json())


def save(path: Path, text: str) -> None:
    path.write_text(text)
