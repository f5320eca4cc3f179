"""Scoped, named keys: each route needs its scope; people's actions are audited by key name."""

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from models.runs import ReviewDecision, RunStatus, RunView
from sandbox.demo import make_email, unmatched_filename
from settings import SCOPES, Settings
from tests.helpers import finished, open_api
from workflows.sales_email import SalesEmailWorkflow

RUNS = "/v1/orchestrations/sales-email/runs"
KEYS = {scope: f"key-{scope.replace(':', '-')}-0123456789" for scope in SCOPES}
REVIEWER_KEY, ADMIN_KEY = "anna-key-0123456789", "root-key-0123456789"


def email(filename: str = "采购合同.pdf") -> dict[str, Any]:
    data = make_email().model_dump(mode="json", by_alias=True)
    data["attachments"][0]["filename"] = filename
    return data


ROUTES: list[tuple[str, str, str, Any]] = [
    ("POST", "/v1/orchestrations/sales-email/run", "emails:submit", email()),
    ("POST", "/v1/webhooks/email", "emails:submit", email()),
    ("POST", "/v1/emails", "emails:submit", None),
    ("GET", RUNS, "runs:read", None),
    ("GET", f"{RUNS}/sales-email-nothing", "runs:read", None),
    ("POST", f"{RUNS}/sales-email-nothing/review", "runs:review", {"decision": "reject"}),
    ("POST", "/v1/orchestrations/sales-email/replay", "runs:replay", {"workflow_id": "x"}),
    ("GET", "/v1/masterdata/all", "masterdata:read", None),
    ("GET", "/v1/masterdata/customers", "masterdata:read", None),
    ("PUT", "/v1/masterdata/bulk", "masterdata:write", {}),
    ("DELETE", "/v1/masterdata/customers/NOBODY", "masterdata:write", None),
    ("GET", "/v1/audit", "admin", None),
    ("POST", "/codec/decode", "codec", {"payloads": []}),
]


@pytest_asyncio.fixture(scope="module")
async def secured(
    dev_settings: Settings, dev_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in production mode with one key per scope, a reviewer and an admin."""
    entries = [f"only-{scope.replace(':', '-')}:{key}:{scope}" for scope, key in KEYS.items()]
    entries += [f"anna:{REVIEWER_KEY}:runs:review+runs:read", f"root:{ADMIN_KEY}:admin"]
    settings = dev_settings.model_copy(
        update={
            "env": "production",
            "api_keys": entries,
            "payload_key": f"k1:{base64.b64encode(os.urandom(32)).decode()}",
        }
    )
    async for client in open_api(settings, dev_env):
        client.headers.pop("X-API-Key")
        yield client


async def test_each_route_needs_its_scope_and_names_it_when_missing(
    secured: httpx.AsyncClient,
) -> None:
    for method, path, scope, body in ROUTES:
        anonymous = await secured.request(method, path, json=body)
        assert anonymous.status_code == 401, (path, anonymous.text)
        other = next(key for s, key in KEYS.items() if s != scope and s != "admin")
        refused = await secured.request(method, path, json=body, headers={"X-API-Key": other})
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["detail"].endswith(f"lacks the scope {scope}"), refused.text
        for key in (KEYS[scope], ADMIN_KEY):  # the scope, or admin (every scope)
            let_in = await secured.request(method, path, json=body, headers={"X-API-Key": key})
            assert let_in.status_code not in (401, 403), (path, let_in.text)


async def test_a_bearer_token_is_a_key_and_bare_keys_do_not_count_in_production(
    secured: httpx.AsyncClient, dev_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    bearer = {"Authorization": f"Bearer {KEYS['codec']}"}
    decoded = await secured.post("/codec/decode", json={"payloads": []}, headers=bearer)
    assert decoded.status_code == 200, decoded.text
    bare = dev_settings.model_copy(update={"env": "production", "api_keys": ["bare-0123456789ab"]})
    async for client in open_api(bare, dev_env):
        refused = await client.get(RUNS, headers={"X-API-Key": "bare-0123456789ab"})
    assert refused.status_code == 401


async def test_a_review_is_decided_by_the_keys_name_and_audited(
    secured: httpx.AsyncClient,
) -> None:
    submit = {"X-API-Key": KEYS["emails:submit"]}
    answer = await secured.post(
        "/v1/orchestrations/sales-email/run", json=email(unmatched_filename()), headers=submit
    )
    workflow_id = answer.json()["workflow_id"]
    anna = {"X-API-Key": REVIEWER_KEY}
    run = await finished(secured, workflow_id, headers=anna)
    assert run["status"] == "MANUAL_REVIEW"
    decision = {"decision": "approve", "customer_id": "C001", "reviewer": "the boss"}
    taken = await secured.post(f"{RUNS}/{workflow_id}/review", json=decision, headers=anna)
    assert taken.status_code == 200, taken.text
    assert taken.json()["reviewer"] == "anna" and taken.json()["comment"] == "(for the boss)"
    run = (await secured.get(f"{RUNS}/{workflow_id}", headers=anna)).json()
    assert run["review"]["decision"]["reviewer"] == "anna"  # who decided, in the run detail
    maria = {"X-API-Key": KEYS["masterdata:write"]}
    customer = {"customer_id": "SEC1", "customer_num": "N-1", "name": "Secure Ltd."}
    assert (await secured.post("/v1/masterdata/customers", json=customer, headers=maria)).is_success
    renamed = {**customer, "name": "Secure Holding Ltd."}
    put = await secured.put("/v1/masterdata/customers/SEC1", json=renamed, headers=maria)
    assert put.is_success
    root = {"X-API-Key": ADMIN_KEY}
    reviews = (await secured.get("/v1/audit", params={"target": workflow_id}, headers=root)).json()
    assert [(a["actor"], a["action"]) for a in reviews] == [("anna", "review.approve")]
    assert "customer C001" in reviews[0]["summary"]
    writes = (await secured.get("/v1/audit", params={"action": "masterdata"}, headers=root)).json()
    mine = [a for a in writes if a["target"] == "customers/SEC1"]
    assert [(a["actor"], a["action"]) for a in mine] == [
        ("only-masterdata-write", "masterdata.upsert"),
        ("only-masterdata-write", "masterdata.upsert"),
    ]
    assert mine[0]["summary"] == "name: 'Secure Ltd.' -> 'Secure Holding Ltd.'"
    assert mine[1]["summary"] == "created"


async def test_a_review_decided_by_signal_is_audited_as_unverified(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """The Web UI's signal carries a typed name: the audit has it, marked as no key's."""
    submitted = email(unmatched_filename())
    answer = await api.post("/v1/orchestrations/sales-email/run", json=submitted)
    workflow_id = answer.json()["workflow_id"]
    assert (await finished(api, workflow_id))["status"] == "MANUAL_REVIEW"
    handle = dev_env.client.get_workflow_handle(workflow_id, result_type=RunView)
    typed = ReviewDecision(decision="approve", customer_id="C001", reviewer="ops-anna")
    await handle.signal(SalesEmailWorkflow.review_decision, typed)
    assert (await handle.result()).status == RunStatus.SUCCESS
    for _ in range(50):  # finalize writes it, a moment after the run shows SUCCESS
        rows = (await api.get("/v1/audit", params={"target": workflow_id})).json()
        if rows:
            break
        await asyncio.sleep(0.1)
    assert [(a["actor"], a["action"]) for a in rows] == [
        ("ops-anna (signal, unverified)", "review.approve")
    ]
    assert "customer C001" in rows[0]["summary"] and "not authenticated" in rows[0]["summary"]
