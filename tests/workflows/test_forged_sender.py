"""A forged From: of a known contact, with a PDF named after that contact's customer, does not
become an ERP order without a human: our mail server's verdict sends it to the customer review."""

import uuid

from temporalio.testing import WorkflowEnvironment

from mail.mime import parse_message
from models.email import EmailEvent
from models.runs import ReviewDecision, RunStatus
from sandbox.demo import make_email, raw_contract_email
from settings import Settings
from tests.helpers import Sims, running_worker, start, wait_for_review
from workflows.sales_email import SalesEmailWorkflow

OURS = "mx.mcs.example"


def mail(*auth_results: str, sender: str = "Li Lei <buyer@huadong.example>") -> bytes:
    """The demo contract mail from a known contact, as our border server delivered it."""
    raw = raw_contract_email(f"<{uuid.uuid4()}@huadong.example>", sender=sender)
    headers = b"".join(f"Authentication-Results: {r}\r\n".encode() for r in auth_results)
    return headers + raw


def event(*auth_results: str, sender: str = "Li Lei <buyer@huadong.example>") -> EmailEvent:
    """The mail as the intake hands it to a run (its sender, the sender's problems and its
    Authentication-Results read from MIME)."""
    found = parse_message(mail(*auth_results, sender=sender)).event
    kept = ("from_", "from_email", "auth_results", "sender_problem")
    return make_email().model_copy(update={name: getattr(found, name) for name in kept})


def test_the_parser_keeps_the_headers_topmost_first() -> None:
    parsed = parse_message(mail(f"{OURS}; dmarc=fail", "relay.example; dmarc=pass")).event
    assert parsed.auth_results == [f"{OURS}; dmarc=fail", "relay.example; dmarc=pass"]


async def test_a_forged_sender_waits_for_review_and_an_authenticated_one_does_not(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str, sims: Sims
) -> None:
    checked = settings.model_copy(
        update={"trusted_authserv_ids": [OURS], "task_queue": f"auth-{uuid.uuid4()}"}
    )
    forged = event(
        f"{OURS}; spf=fail smtp.mailfrom=huadong.example; dkim=none; dmarc=fail "
        "header.from=huadong.example",
        f"{OURS}; dmarc=pass header.from=huadong.example",  # written by the forger: below
    )
    genuine = event(f"{OURS}; dkim=pass header.d=huadong.example")
    orders_before = len(sims.erp_orders)
    async with running_worker(ts_env.client, checked):
        handle = await start(ts_env.client, checked, forged)
        waiting = await wait_for_review(handle)
        assert waiting.review is not None
        assert waiting.review.reason == "SENDER_NOT_AUTHENTICATED"
        assert len(sims.erp_orders) == orders_before  # nothing reached the ERP
        ok = await (await start(ts_env.client, checked, genuine)).result()
        assert ok.status == RunStatus.SUCCESS
        decision = ReviewDecision(decision="reject", reviewer="ops", comment="not from Li Lei")
        await handle.execute_update(SalesEmailWorkflow.review, decision)
        result = await handle.result()
    assert result.status == RunStatus.REJECTED
    assert len(sims.erp_orders) == orders_before + 1  # the genuine one only


async def test_with_sender_auth_required_a_mail_without_a_verdict_is_reviewed(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str
) -> None:
    strict = settings.model_copy(
        update={
            "trusted_authserv_ids": [OURS],
            "require_sender_auth": True,
            "task_queue": f"auth-{uuid.uuid4()}",
        }
    )
    unjudged = event("relay.other.example; dmarc=pass")
    async with running_worker(ts_env.client, strict):
        handle = await start(ts_env.client, strict, unjudged)
        waiting = await wait_for_review(handle)
        assert waiting.review is not None
        assert waiting.review.reason == "SENDER_NOT_AUTHENTICATED"
        await handle.terminate("test done")


async def test_a_forged_display_name_orders_nothing(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str, sims: Sims
) -> None:
    """The attacker controls evil.example, so DMARC passes at our MX, for evil.example; the From:
    shows the victim's address in front of the attacker's. The sender is the attacker's
    address (unknown: no order); the victim's address in a display name is reviewed."""
    strict = settings.model_copy(
        update={"trusted_authserv_ids": [OURS], "sender_auth": "required",
                "task_queue": f"auth-{uuid.uuid4()}"}
    )  # fmt: skip
    evil = f"{OURS}; spf=pass smtp.mailfrom=evil.example; dmarc=pass header.from=evil.example"
    in_front = event(evil, sender="buyer@huadong.example <attacker@evil.example>")
    assert in_front.from_email == "attacker@evil.example" and in_front.sender_problem
    quoted = event(evil, sender='"attacker@evil.example" <buyer@huadong.example>')
    assert quoted.from_email == "buyer@huadong.example" and "display name" in quoted.sender_problem
    orders_before = len(sims.erp_orders)
    async with running_worker(ts_env.client, strict):
        unknown = await (await start(ts_env.client, strict, in_front)).result()
        assert unknown.status == RunStatus.UNKNOWN_CONTACT
        handle = await start(ts_env.client, strict, quoted)
        waiting = await wait_for_review(handle)
        assert waiting.review is not None
        assert waiting.review.reason == "SENDER_NOT_AUTHENTICATED"
        await handle.terminate("test done")
    assert len(sims.erp_orders) == orders_before
