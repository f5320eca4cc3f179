"""A run waiting for a review is read without its worker: its state is in its memo (encrypted
with the payload key), so the run detail and the review page answer at once while no worker runs,
with the review (its reason, the contact's customer), not only what the search attributes know."""

import asyncio
import base64
import os
import uuid
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api import reviews
from models import run_contract as contract
from models.codec import ENCODING, data_converter
from models.runs import RunStatus
from sandbox.demo import make_email, unmatched_filename
from settings import Settings
from storage.signed_urls import sign_review_token
from tests.helpers import by_reference, open_api, running_worker, wait_for_review
from workflows.sales_email import SalesEmailWorkflow

KEY = f"k1:{base64.b64encode(os.urandom(32)).decode()}"


async def test_a_waiting_run_is_read_while_no_worker_runs(
    dev_env: WorkflowEnvironment, dev_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """...and a decision sent meanwhile answers 503 saying it may still be taken, with the
    attempt audited: Temporal keeps the update it admitted, and a worker back later takes it."""
    monkeypatch.setattr(reviews, "UPDATE_TIMEOUT", timedelta(seconds=2))
    own = dev_settings.model_copy(update={"task_queue": f"memo-{uuid.uuid4()}", "payload_key": KEY})
    client = Client(
        dev_env.client.service_client, namespace=dev_env.client.namespace,
        data_converter=data_converter(KEY),
    )  # fmt: skip
    email = make_email(filename=unmatched_filename())
    async with running_worker(client, own):
        handle = await client.start_workflow(
            SalesEmailWorkflow.run, by_reference(email, own),
            id=f"memo-{uuid.uuid4()}", task_queue=own.task_queue,
        )  # fmt: skip
        asked = await wait_for_review(handle)
    # no worker polls the run's task queue now
    raw = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    memo = raw.workflow_execution_info.memo.fields[contract.WAITING_MEMO]
    assert memo.metadata["encoding"] == ENCODING and b"C00" not in memo.data
    async for api in open_api(own, dev_env, client):
        run = (await api.get(f"/v1/orchestrations/sales-email/runs/{handle.id}")).json()
        # the search attributes alone have no review: these came from the memo
        assert run["status"] == "MANUAL_REVIEW" and run["review"] is not None, run
        assert asked.review is not None
        assert run["review"]["reason"] == asked.review.reason == "CUSTOMER_MATCH_LOW_SCORE"
        assert run["review"]["contact_customer_id"] == "C001"
        assert asked.review.deadline is not None
        deadline = int(asked.review.deadline.timestamp())
        token = sign_review_token(handle.id, "ops@mcs.example", deadline, own.file_url_secret)
        page = await api.get(f"/review/{token}")
        assert page.status_code == 200 and "Which customer is it?" in page.text
        posted = await api.post(f"/review/{token}", data={"decision": "reject"})
        assert posted.status_code == 503 and "It may still be taken" in posted.text
        audit = (await api.get("/v1/audit", params={"target": handle.id})).json()
        [attempt] = [a for a in audit if a["action"] == "review.reject.unconfirmed"]
        assert attempt["actor"] == "ops@mcs.example"
    async with running_worker(client, own):
        ended = await asyncio.wait_for(handle.result(), 60)
    assert ended.status == RunStatus.REJECTED  # the decision sent while no worker ran
    assert ended.review is not None and ended.review.decision is not None
    assert ended.review.decision.reviewer == "ops@mcs.example"
