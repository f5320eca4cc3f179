"""Payload encryption: unreadable history without the key, readable through the codec routes."""

import base64
import os
import uuid

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.codec import ENCODING, EncryptionCodec, data_converter, parse_keys
from models.db import make_engine
from models.errors import ErrorType
from models.runs import RunView
from sandbox.demo import make_email
from sandbox.faults import Faults
from settings import Settings
from tests.helpers import Sims, audited, by_reference, open_api, running_worker
from workflows.sales_email import SalesEmailWorkflow

OLD = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
NEW = f"k2:{base64.b64encode(os.urandom(32)).decode()}"


async def encrypted_run(
    ts_env: WorkflowEnvironment, settings: Settings
) -> tuple[Settings, str, RunView]:
    """One run of the demo email on a worker with the payload key NEW (a task queue of its own):
    the settings, the workflow id and the result read with the key."""
    encrypted = settings.model_copy(
        update={"payload_key": NEW, "task_queue": f"enc-{uuid.uuid4()}"}
    )
    client = Client(
        ts_env.client.service_client, namespace=ts_env.client.namespace,
        data_converter=data_converter(NEW),
    )  # fmt: skip
    async with running_worker(client, encrypted):
        handle = await client.start_workflow(
            SalesEmailWorkflow.run, by_reference(make_email(), encrypted),
            id=f"enc-{uuid.uuid4()}", task_queue=encrypted.task_queue,
        )  # fmt: skip
        return encrypted, handle.id, await handle.result()


async def test_codec_round_trip_and_key_rotation() -> None:
    plain = [Payload(metadata={"encoding": b"json/plain"}, data=b'{"secret": 1}')]
    old = EncryptionCodec(parse_keys(OLD))
    sealed = await old.encode(plain)
    assert sealed[0].metadata["encoding"] == ENCODING and b"secret" not in sealed[0].data
    rotated = EncryptionCodec(parse_keys(f"{NEW},{OLD}"))
    assert await rotated.decode(sealed) == plain  # the old key still decrypts
    assert (await rotated.encode(plain))[0].metadata["encryption-key-id"] == b"k2"
    with pytest.raises(ValueError, match="no key 'k1'"):
        await EncryptionCodec(parse_keys(NEW)).decode(sealed)
    with pytest.raises(ValueError, match="id:base64key"):
        parse_keys("just-a-key")


async def test_encrypted_history_is_readable_only_through_the_codec(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str
) -> None:
    encrypted, workflow_id, result = await encrypted_run(ts_env, settings)
    assert result.status == "SUCCESS"
    history = await ts_env.client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input
    assert started.payloads[0].metadata["encoding"] == ENCODING
    assert b"buyer@huadong.example" not in started.SerializeToString()
    body = json_format.MessageToJson(started)
    async for api in open_api(encrypted, ts_env):
        decoded = await api.post("/codec/decode", content=body)
        assert decoded.status_code == 200
        payload = json_format.Parse(decoded.text, Payloads()).payloads[0]
        assert b"buyer@huadong.example" in payload.data
        tampered = body.replace('"data": "', '"data": "AAAA', 1)
        assert (await api.post("/codec/decode", content=tampered)).status_code == 422


async def test_failure_messages_are_encrypted_and_audit_rows_keep_no_answer(
    ts_env: WorkflowEnvironment, settings: Settings, api_url: str, sims: Sims
) -> None:
    """A Dify answer that is not JSON fails the step: the failure in history is "Encoded failure"
    without the key, the run result (read with the key) tells what happened, and neither the
    audit row nor the history in the clear holds the answer."""
    sims.dify_faults.faults = Faults(bad_answer_next=100)
    encrypted, workflow_id, result = await encrypted_run(ts_env, settings)
    assert result.status == "CONTRACT_PARSE_FAILED"
    assert "no JSON object in the answer" in str(result.errors), result.errors
    history = await ts_env.client.get_workflow_handle(workflow_id).fetch_history()
    failed = [e for e in history.events if e.HasField("activity_task_failed_event_attributes")]
    failure = failed[0].activity_task_failed_event_attributes.failure
    assert failure.message == "Encoded failure" and failure.HasField("encoded_attributes")
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert b"could not read the file" not in raw and b"no JSON object" not in raw
    rows = audited(make_engine(encrypted.db_url), workflow_id)
    bad = [row for row in rows if row.error_code == ErrorType.DIFY_BAD_ANSWER]
    assert bad and all("could not read" not in row.detail for row in bad)
    assert "no JSON object in the answer" in bad[0].detail


async def test_codec_cors_answers_the_web_ui_only(
    ts_env: WorkflowEnvironment, settings: Settings
) -> None:
    async for api in open_api(settings.model_copy(update={"temporal_ui_port": 8233}), ts_env):
        allowed = await api.options("/codec/encode", headers={"Origin": "http://localhost:8233"})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:8233"
        assert "x-namespace" in allowed.headers["access-control-allow-headers"]
        other = await api.options("/codec/decode", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        plain = json_format.MessageToJson(Payloads(payloads=[Payload(data=b"{}")]))
        passed = await api.post(
            "/codec/decode", content=plain, headers={"Origin": "http://127.0.0.1:8233"}
        )
        assert passed.status_code == 200 and passed.headers["access-control-allow-origin"]
