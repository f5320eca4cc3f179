"""Replay safety: recorded histories must replay on the current workflow code.

The histories of release 0.1 (the baseline: no patch) cover every outcome; record them again with
`MCS_RECORD_HISTORIES=-0.1 pytest tests/workflows/test_replay.py`. A workflow change after 0.1 is
a patch (workflows/patches.py) with histories from before and after it.
"""

import json
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from models.codec import PLAIN_CONVERTER
from models.email import EmailEvent
from models.runs import ReviewDecision, RunStatus, RunView
from sandbox.demo import contract_number, contract_pdf, make_email, unmatched_filename
from sandbox.pdf import make_pdf
from settings import Settings
from tests.helpers import start, wait_for_review
from workflows.patches import PATCHES, RETIRED_PATCHES
from workflows.sales_email import SalesEmailWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"
RECORD = os.environ.get("MCS_RECORD_HISTORIES", "")  # a file-name suffix, e.g. "-0.1"
BASELINE = "-0.1"


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


def unguarded(
    patches: tuple[str, ...], retired: tuple[str, ...], marked: list[set[str]]
) -> list[str]:
    """What keeps a patch from being guarded by recorded runs from both sides of it: a marker no
    list knows, a patch no run recorded, a patch with no run recorded before it."""
    problems = [
        f"{p} is in neither PATCHES nor RETIRED"
        for p in set().union(*marked) - {*patches, *retired}
    ]
    for position, patch in enumerate(patches):
        if not any(patch in m for m in marked):
            problems.append(f"no recorded run with {patch}")
        if not [m for m in marked if not m & set(patches[position:])]:
            problems.append(f"no recorded run from before {patch}")
    return sorted(problems)


def test_every_patch_is_guarded_by_histories_from_both_sides() -> None:
    """Each `workflow.patched` branch replays a run from before the patch and one after it: the
    old branch may go (deprecate_patch) only together with the histories that still need it."""
    assert unguarded(PATCHES, RETIRED_PATCHES, [patches_in(h) for h in recorded()]) == []


def test_the_patch_guard_finds_each_gap() -> None:
    before, after = set[str](), {"a"}
    assert unguarded(("a",), (), [before, after]) == []
    assert unguarded(("a",), (), [after]) == ["no recorded run from before a"]
    assert unguarded(("a",), (), [before]) == ["no recorded run with a"]
    assert unguarded((), (), [after]) == ["a is in neither PATCHES nor RETIRED"]
    assert unguarded((), ("a",), [after]) == []


def unauthenticated() -> EmailEvent:
    """A known contact's contract mail that our mail server found forged."""
    verdict = (
        "mx.mcs.example; spf=fail smtp.mailfrom=huadong.example; dkim=fail;"
        " dmarc=fail header.from=huadong.example"
    )
    return make_email().model_copy(update={"auth_results": [verdict]})


# The baseline's runs: one per outcome, the reviews and an order correction.
BASELINE_RUNS = [
    ("success", make_email(), None, RunStatus.SUCCESS),
    ("duplicate", make_email(), "again", RunStatus.SUCCESS),
    ("unknown_contact", make_email(sender="x@unknown.example"), None, RunStatus.UNKNOWN_CONTACT),
    ("ignored", make_email(subject="Invoice for October"), None, RunStatus.IGNORED),
    ("review_approved", make_email(filename=unmatched_filename()), "approve", RunStatus.SUCCESS),
    ("review_rejected", make_email(filename="采购合同_远航科技.pdf"), "reject", RunStatus.REJECTED),
    ("review_expired", make_email(filename=unmatched_filename()), "wait", RunStatus.REVIEW_EXPIRED),
    (
        "order_corrected",
        make_email(pdf=contract_pdf(contract_number("GUARD-ZERO"))),
        "fix",
        RunStatus.SUCCESS,
    ),
    ("sender_unauthenticated", unauthenticated(), "approve", RunStatus.SUCCESS),
    (
        "order_learned",  # a customer's own code corrected once: learned as a reference
        make_email(pdf=contract_pdf(contract_number(), ("P-100", f"HD-{uuid.uuid4().hex[:8]}"))),
        "teach",
        RunStatus.SUCCESS,
    ),
    (
        "contract_parse_failed",
        make_email(pdf=make_pdf(["A holiday photo, not a contract"])),
        None,
        RunStatus.CONTRACT_PARSE_FAILED,
    ),
    (
        "order_payload_blocked",
        make_email(pdf=contract_pdf("HT-2026-002", ("BLOCK-9",))),
        None,
        RunStatus.ORDER_PAYLOAD_BLOCKED,
    ),
    (
        "erp_order_failed",
        make_email(pdf=contract_pdf(contract_number(), ("REJECT-7",))),
        None,
        RunStatus.ERP_ORDER_FAILED,
    ),
]


def test_the_baseline_histories_cover_every_outcome() -> None:
    names = {p.stem for p in HISTORIES.glob("*.json")}
    assert {f"{name}{BASELINE}" for name, *_ in BASELINE_RUNS} <= names
    statuses = {status for *_, status in BASELINE_RUNS}
    assert set(RunStatus) - statuses == {
        RunStatus.RUNNING,
        RunStatus.MANUAL_REVIEW,
        RunStatus.FAILED,
    }


async def decided(handle: WorkflowHandle[SalesEmailWorkflow, RunView], decision: str) -> None:
    """Decide the run's review as `decision` says: approve, reject, or fix (correct the order)."""
    waiting = await wait_for_review(handle)
    if decision in ("fix", "teach"):  # an order review, approved with a correction
        assert waiting.order_payload is not None
        draft = waiting.order_payload
        change = {"quantity": 10} if decision == "fix" else {"product_code": "P-200"}
        lines = [line.model_copy(update=change) if decision == "fix" or n == 1 else line
                 for n, line in enumerate(draft.lines)]  # fmt: skip
        corrected = draft.model_copy(update={"lines": lines})
        chosen = ReviewDecision(decision="approve", reviewer="ops", order_payload=corrected)
    else:
        chosen = ReviewDecision(decision=decision, customer_id="C001", reviewer="ops")
    await handle.execute_update(SalesEmailWorkflow.review, chosen)


@pytest.mark.parametrize(
    ("name", "email", "decision", "status"),
    BASELINE_RUNS,
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_fresh_history_replays(
    ts_env: WorkflowEnvironment,
    ts_worker: Settings,
    name: str,
    email: EmailEvent,
    decision: str | None,
    status: RunStatus,
) -> None:
    if decision == "again":  # the same email and PDF a second time: the first run's order
        await (await start(ts_env.client, ts_worker, email)).result()
    handle = await start(ts_env.client, ts_worker, email)
    if decision in ("approve", "reject", "fix", "teach"):
        await decided(handle, decision)
    result = await handle.result()
    assert result.status == status, result.errors
    if decision == "again":
        assert any("duplicate of" in warning for warning in result.warnings)
    history = await handle.fetch_history()
    await replay(history)
    if RECORD:
        (HISTORIES / f"{name}{RECORD}.json").write_text(history.to_json())
