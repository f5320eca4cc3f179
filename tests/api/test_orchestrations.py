"""The orchestration API through HTTP semantics, on the real Temporal dev server."""

import asyncio
import base64
import uuid
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from api.attachments import INLINE_BYTES
from models.email import workflow_id_for
from sandbox.demo import (
    contract_number,
    contract_pdf,
    make_email,
    raw_contract_email,
    unmatched_filename,
)
from settings import Settings
from temporal_client import accepted_result
from tests.helpers import Sims, finished, free_port, open_api

RUN = "/v1/orchestrations/sales-email/run"
RUNS = "/v1/orchestrations/sales-email/runs"


def body(**changes: Any) -> dict[str, Any]:
    data = make_email().model_dump(mode="json", by_alias=True)
    data.update(changes)
    return data


async def test_healthz_needs_no_key(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/healthz", headers={"X-API-Key": ""})
    health = response.json()
    assert (health["status"], health["database"], health["temporal"]) == ("ok", True, True)
    assert health["queued"] >= 0


async def test_missing_or_wrong_api_key_is_401(api: httpx.AsyncClient) -> None:
    assert (await api.post(RUN, json=body(), headers={"X-API-Key": "wrong"})).status_code == 401
    assert (await api.get(RUNS, headers={"X-API-Key": ""})).status_code == 401


async def test_submit_runs_to_success_and_a_resubmission_is_a_duplicate(
    api: httpx.AsyncClient,
) -> None:
    email = body()
    first = await api.post(RUN, json=email)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["duplicate"] is False and answer["status"] == "RUNNING"
    assert answer["workflow_id"] == workflow_id_for(email["message_id"])
    run = await finished(api, answer["workflow_id"])
    assert run["status"] == "SUCCESS" and run["sales_order_no"]
    again = await api.post(RUN, json=email)
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    assert again.json()["workflow_id"] == answer["workflow_id"]
    assert again.json()["status"] == "SUCCESS"


async def test_raw_email_upload_runs(api: httpx.AsyncClient) -> None:
    raw = raw_contract_email(
        "<raw-upload-1@huadong.example>", contract_pdf("HT-RAW-1"),
        sender="Li Lei <Buyer@Huadong.example>",
    )  # fmt: skip
    response = await api.post("/v1/emails", content=raw, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 202, response.text
    run = await finished(api, response.json()["workflow_id"])
    assert run["status"] == "SUCCESS" and run["contact_id"] == "K001"


async def test_raw_email_needs_rfc822_content_type(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/emails", content=b"From: a@b\r\n\r\nhi")
    assert response.status_code == 415
    assert "message/rfc822" in response.json()["detail"]


async def test_malformed_json_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        RUN, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_missing_sender_is_422(api: httpx.AsyncClient) -> None:
    email = body()
    del email["from_email"]
    response = await api.post(RUN, json=email)
    assert response.status_code == 422
    assert "from_email" in response.text


async def test_bad_base64_is_422(api: httpx.AsyncClient) -> None:
    email = body()
    email["attachments"][0]["bytes_b64"] = "%%% not base64 %%%"
    response = await api.post(RUN, json=email)
    assert response.status_code == 422
    assert "not base64" in response.json()["detail"]


async def test_a_pdf_that_is_not_a_pdf_is_422(api: httpx.AsyncClient) -> None:
    email = body()
    email["attachments"][0]["bytes_b64"] = base64.b64encode(b"MZ\x90\x00 an exe").decode()
    response = await api.post(RUN, json=email)
    assert response.status_code == 422
    assert "not a PDF" in response.json()["detail"]


async def test_attachment_over_the_limit_is_413(
    dev_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    small = dev_settings.model_copy(update={"max_attachment_bytes": 100})
    async for api in open_api(small, dev_env):
        response = await api.post(RUN, json=body())
        assert response.status_code == 413
        assert "over the limit of 100" in response.json()["detail"]


async def test_attachment_without_bytes_or_url_is_422(api: httpx.AsyncClient) -> None:
    email = body()
    email["attachments"][0]["bytes_b64"] = None
    response = await api.post(RUN, json=email)
    assert response.status_code == 422
    assert "needs bytes_b64 or url" in response.json()["detail"]


async def test_unknown_run_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get(f"{RUNS}/sales-email-doesnotexist")).status_code == 404


async def test_list_runs_filters_by_status(api: httpx.AsyncClient) -> None:
    answer = (await api.post(RUN, json=body(subject="no keyword here"))).json()
    await finished(api, answer["workflow_id"])
    for _ in range(100):
        rows = (await api.get(RUNS, params={"status": "IGNORED"})).json()
        if answer["workflow_id"] in [r["workflow_id"] for r in rows]:
            break
        await asyncio.sleep(0.1)
    assert answer["workflow_id"] in [r["workflow_id"] for r in rows]
    assert {r["status"] for r in rows} == {"IGNORED"}
    assert (await api.get(RUNS, params={"status": "NOPE"})).status_code == 422
    started = next(r["started_at"] for r in rows if r["workflow_id"] == answer["workflow_id"])
    after = (await api.get(RUNS, params={"status": "IGNORED", "started_after": started})).json()
    before = (await api.get(RUNS, params={"status": "IGNORED", "started_before": started})).json()
    assert answer["workflow_id"] in [r["workflow_id"] for r in after]
    assert answer["workflow_id"] not in [r["workflow_id"] for r in before]
    assert (await api.get(RUNS, params={"started_after": "yesterday"})).status_code == 422


async def test_review_of_a_finished_run_is_409(api: httpx.AsyncClient) -> None:
    answer = (await api.post(RUN, json=body(subject="no keyword"))).json()
    await finished(api, answer["workflow_id"])
    decision = {"decision": "approve", "reviewer": "ops"}
    response = await api.post(f"{RUNS}/{answer['workflow_id']}/review", json=decision)
    assert response.status_code == 409


async def test_review_naming_an_unknown_customer_is_422(api: httpx.AsyncClient) -> None:
    decision = {"decision": "approve", "reviewer": "ops", "customer_id": "C999"}
    response = await api.post(f"{RUNS}/whatever/review", json=decision)
    assert response.status_code == 422
    assert "unknown customer" in response.json()["detail"]


async def test_review_through_the_api_approves_a_waiting_run(api: httpx.AsyncClient) -> None:
    answer = (await api.post(RUN, json=body(attachments=_renamed(unmatched_filename())))).json()
    run = await finished(api, answer["workflow_id"])
    assert run["status"] == "MANUAL_REVIEW"
    assert run["review"]["reason"] == "CUSTOMER_MATCH_LOW_SCORE"
    bad = await api.post(f"{RUNS}/{answer['workflow_id']}/review", json={"decision": "maybe"})
    assert bad.status_code == 422
    decision = {"decision": "approve", "reviewer": "ops", "customer_id": "C001"}
    response = await api.post(f"{RUNS}/{answer['workflow_id']}/review", json=decision)
    assert response.status_code == 200, response.text
    assert response.json()["customer_id"] == "C001"
    for _ in range(100):
        run = (await api.get(f"{RUNS}/{answer['workflow_id']}")).json()
        if run["status"] not in ("RUNNING", "MANUAL_REVIEW"):
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "SUCCESS" and run["customer_id"] == "C001"


def _renamed(filename: str) -> list[dict[str, Any]]:
    attachments: list[dict[str, Any]] = body()["attachments"]
    attachments[0]["filename"] = filename
    return attachments


@pytest.mark.parametrize("size", [0, 600_000], ids=["small, sent at once", "big, streamed"])
async def test_signed_file_url_serves_the_pdf_and_rejects_tampering(
    api: httpx.AsyncClient, size: int
) -> None:
    pdf = contract_pdf(contract_number(), pad_to=size) if size else None
    email = make_email(pdf=pdf).model_dump(mode="json", by_alias=True)
    answer = (await api.post(RUN, json=email)).json()
    run = await finished(api, answer["workflow_id"])
    url = httpx.URL(run["file_url"])
    path = f"{url.path}?{url.query.decode()}"
    response = await api.get(path, headers={"X-API-Key": ""})
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    assert len(response.content) == int(response.headers["content-length"])
    assert (len(response.content) > INLINE_BYTES) == bool(size)
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    tampered = path.replace("signature=", "signature=0")
    assert (await api.get(tampered)).status_code == 403
    expired = path.replace("expires=", "expires=1")
    assert (await api.get(expired)).status_code == 403


async def test_new_alias_is_matched_by_the_next_email_without_a_restart(
    api: httpx.AsyncClient,
) -> None:
    def email() -> dict[str, Any]:
        data = make_email(sender="lisa@bright.example", filename="采购合同_光明新电子_2026.pdf")
        return data.model_dump(mode="json", by_alias=True)

    before = (await api.post(RUN, json=email())).json()
    assert (await finished(api, before["workflow_id"]))["status"] == "MANUAL_REVIEW"
    customer = (await api.get("/v1/masterdata/customers/C003")).json()
    customer["aliases"].append("光明新电子")
    assert (await api.put("/v1/masterdata/customers/C003", json=customer)).status_code == 200
    after = (await api.post(RUN, json=email())).json()
    run = await finished(api, after["workflow_id"])
    assert run["status"] == "SUCCESS" and run["customer_id"] == "C003"


async def test_webhook_takes_an_email_event_with_a_url_attachment(
    api: httpx.AsyncClient, api_url: str
) -> None:
    first = await api.post(RUN, json=body())
    source = (await finished(api, first.json()["workflow_id"]))["file_url"]
    email = body()
    email["attachments"][0] = {"filename": "采购合同_华东机械.pdf", "url": source}
    response = await api.post("/v1/webhooks/email", json=email)
    assert response.status_code == 202, response.text
    run = await finished(api, response.json()["workflow_id"])
    # the same contract PDF, fetched by its URL, read again: a second order of it waits for review
    assert run["status"] == "MANUAL_REVIEW" and run["review"]["reason"] == "DUPLICATE_CONTRACT"
    bad = body()
    bad["attachments"][0] = {"filename": "x.pdf", "url": "ftp://example.com/x.pdf"}
    assert (await api.post("/v1/webhooks/email", json=bad)).status_code == 422


async def test_replay_after_fixing_masterdata_runs_again(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    sender = f"new.buyer.{uuid.uuid4().hex[:6]}@huadong.example"
    first = (await api.post(RUN, json=body(**{"from": sender, "from_email": sender}))).json()
    original = await accepted_result(dev_env.client, first["workflow_id"])
    assert (await finished(api, first["workflow_id"]))["status"] == "UNKNOWN_CONTACT"
    contact = {"contact_id": f"K-{sender}", "email": sender, "customer_id": "C001"}
    assert (await api.post("/v1/masterdata/contacts", json=contact)).status_code == 201
    replayed = await api.post(
        f"{RUN.rsplit('/', 1)[0]}/replay", json={"workflow_id": first["workflow_id"]}
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["run_id"] not in ("", original.run_id)
    run = await finished(api, first["workflow_id"])
    assert run["status"] == "SUCCESS" and run["run_id"] == replayed.json()["run_id"]


async def test_reset_to_the_erp_step_keeps_the_order_exactly_once(
    api: httpx.AsyncClient, sims: Sims, dev_env: WorkflowEnvironment
) -> None:
    first = (await api.post(RUN, json=body())).json()
    await accepted_result(dev_env.client, first["workflow_id"])
    done = await finished(api, first["workflow_id"])
    orders, erp_calls = len(sims.erp_orders), sims.erp_faults.requests
    replay = f"{RUN.rsplit('/', 1)[0]}/replay"
    reset = await api.post(
        replay, json={"message_id": done["message_id"], "from_step": "call_erp_gateway"}
    )
    assert reset.status_code == 202, reset.text
    for _ in range(100):
        run = (await api.get(f"{RUNS}/{first['workflow_id']}")).json()
        if run["run_id"] == reset.json()["run_id"] and run["status"] != "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "SUCCESS" and run["sales_order_no"] == done["sales_order_no"]
    assert sims.erp_faults.requests == erp_calls + 1  # the step ran again ...
    assert len(sims.erp_orders) == orders  # ... and the ERP's idempotency key kept it one order
    bad = await api.post(replay, json={"workflow_id": first["workflow_id"], "from_step": "nope"})
    assert bad.status_code == 409 and "unknown step" in bad.text
    assert (await api.post(replay, json={"workflow_id": "sales-email-none"})).status_code == 404
    assert (await api.post(replay, json={})).status_code == 422


WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


def _recorded(history: WorkflowHistory) -> list[int]:
    """The history's event types, workflow tasks left out."""
    return [e.event_type for e in history.events if e.event_type not in WORKFLOW_TASK_EVENTS]


async def test_a_rejected_review_leaves_no_trace_in_history(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    answer = (await api.post(RUN, json=body(attachments=_renamed("合同_qqqq.pdf")))).json()
    run = await finished(api, answer["workflow_id"])
    assert run["status"] == "MANUAL_REVIEW" and run["review"]["candidates"] == []
    handle = dev_env.client.get_workflow_handle(answer["workflow_id"])
    for _ in range(100):  # the run settles into its review timer
        history = await handle.fetch_history()
        if history.events[-1].event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            break
        await asyncio.sleep(0.05)
    review = f"{RUNS}/{answer['workflow_id']}/review"
    no_customer = await api.post(review, json={"decision": "approve"})
    assert no_customer.status_code == 409 and "customer_id" in no_customer.text
    # the refused update wrote nothing (the server may record an empty workflow task for it)
    assert _recorded(await handle.fetch_history()) == _recorded(history)
    decision = {"decision": "reject", "reviewer": "ops"}
    assert (await api.post(review, json=decision)).status_code == 200


async def test_an_order_review_is_decided_over_the_api_with_a_corrected_order(
    api: httpx.AsyncClient, sims: Sims
) -> None:
    email = make_email(pdf=contract_pdf(contract_number("GUARD-ZERO")))
    accepted = (await api.post(RUN, json=email.model_dump(mode="json", by_alias=True))).json()
    run = await finished(api, accepted["workflow_id"])
    assert run["status"] == "MANUAL_REVIEW" and run["review"]["kind"] == "order"
    assert [f["code"] for f in run["review"]["findings"]] == [
        "ORDER_LINE_INVALID", "ORDER_TOTAL_MISMATCH",
    ]  # fmt: skip
    draft, review = run["order_payload"], f"{RUNS}/{accepted['workflow_id']}/review"
    decide = {"decision": "approve", "reviewer": "anna"}
    malformed = await api.post(review, json={**decide, "order_payload": {"lines": "many"}})
    assert malformed.status_code == 422 and "lines" in malformed.text
    unknown = {**draft, "lines": [{**draft["lines"][0], "product_code": "X-404", "quantity": 10}]}
    answer = await api.post(review, json={**decide, "order_payload": unknown})
    assert answer.status_code == 422 and "unknown products: X-404" in answer.text
    answer = await api.post(review, json={**decide, "order_payload": draft})
    assert answer.status_code == 422 and "ORDER_LINE_INVALID (line 1)" in answer.text
    for quantity, why in (("1E+999999999", "is over"), ("NaN", "finite"), ("1.0000001", "decim")):
        hostile = {**draft, "lines": [{**draft["lines"][0], "quantity": quantity}]}
        answer = await api.post(review, json={**decide, "order_payload": hostile})
        assert answer.status_code == 422 and why in answer.text, (quantity, answer.text)
    assert (await finished(api, accepted["workflow_id"]))["status"] == "MANUAL_REVIEW"
    lines = [{**line, "quantity": "10"} for line in draft["lines"]]
    answer = await api.post(review, json={**decide, "order_payload": {**draft, "lines": lines}})
    assert answer.status_code == 200, answer.text
    for _ in range(200):
        done = await finished(api, accepted["workflow_id"])
        if done["status"] != "MANUAL_REVIEW":
            break
        await asyncio.sleep(0.05)
    decided = done["review"]["decision"]
    assert done["status"] == "SUCCESS" and decided["reviewer"] == "dev"  # the key's name
    assert (decided["comment"] or "").startswith("(for anna)")
    sent = sims.erp_orders[done["idempotency_key"]]["order_payload"]
    assert [line["quantity"] for line in sent["lines"]] == ["10", "10"]  # type: ignore[index]


async def test_the_run_detail_carries_every_step_attempt_retries_included(
    api: httpx.AsyncClient, sims: Sims
) -> None:
    sims.dify_faults.faults.fail_next = 2
    accepted = (await api.post(RUN, json=body())).json()
    run = await finished(api, accepted["workflow_id"])
    for _ in range(100):  # the audit rows are written in batches
        run = (await api.get(f"{RUNS}/{accepted['workflow_id']}")).json()
        if any(entry["step"] == "finalize" for entry in run["audit"]):
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "SUCCESS"
    dify = [(e["attempt"], e["outcome"], e["error_code"]) for e in run["audit"]
            if e["step"] == "call_dify_contract"]  # fmt: skip
    assert dify == [
        (1, "error", "DifyClientErrorTransient"),
        (2, "error", "DifyClientErrorTransient"),
        (3, "ok", ""),
    ]
    assert {e["step"] for e in run["audit"]} >= {"check_idempotency", "call_erp_gateway"}
    assert all(e["duration_ms"] >= 0 and e["at"] for e in run["audit"])


async def test_readyz_names_each_dependency_with_its_state_and_latency(
    api: httpx.AsyncClient, dev_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    ready = await api.get("/v1/readyz", headers={"X-API-Key": ""})
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    senders = checks.pop("sender_auth")
    assert senders == {"state": "up", "latency_ms": 0.0, "detail": "checked by mx.mcs.example"}
    assert {name: c["state"] for name, c in checks.items()} == dict.fromkeys(
        ("database", "temporal", "dify", "erp", "smtp"), "up"
    )
    assert all(c["latency_ms"] > 0 for c in checks.values())
    again = (await api.get("/v1/readyz")).json()["checks"]  # within 5 s: the same probe's answer
    assert {n: c["latency_ms"] for n, c in again.items() if n != "sender_auth"} == {
        n: c["latency_ms"] for n, c in checks.items()
    }
    dead = f"http://127.0.0.1:{free_port()}"
    broken = dev_settings.model_copy(update={"erp_base_url": dead, "smtp_host": ""})
    async for other in open_api(broken, dev_env):
        answer = await other.get("/v1/readyz")
    assert answer.status_code == 503
    found = answer.json()
    assert found["status"] == "not ready"
    assert found["checks"]["erp"] == {
        "state": "down",
        "latency_ms": found["checks"]["erp"]["latency_ms"],
        "detail": "ConnectError",
    }
    assert found["checks"]["smtp"]["state"] == "off" and found["checks"]["dify"]["state"] == "up"
    unchecked = dev_settings.model_copy(update={"sender_auth": "off"})
    async for other in open_api(unchecked, dev_env):
        off = (await other.get("/v1/readyz")).json()["checks"]["sender_auth"]
    assert off == {"state": "off", "latency_ms": 0.0,
                   "detail": "senders are not checked (MCS_SENDER_AUTH=off)"}  # fmt: skip
