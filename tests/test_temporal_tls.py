"""A Temporal reachable only over TLS, with client certificates (a TLS terminator in front of the
dev server): the worker, the API and the CLI connect with the MCS_TEMPORAL_TLS_* settings, and
nothing connects without them."""

import asyncio
import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from models.runs import RunStatus
from sandbox.demo import make_email
from settings import Settings
from temporal_client import connect
from tests.helpers import finished, running_worker
from tests.pki import client_certificate, make_pki, tls_terminator

MCS = str(Path(sys.executable).parent / "mcs")


async def refused(settings: Settings) -> bool:
    """Whether a client with these settings fails to connect."""
    try:
        await asyncio.wait_for(connect(settings), 20)
    except (RuntimeError, TimeoutError):
        return True
    return False


async def test_worker_api_and_cli_reach_temporal_only_over_mtls(
    dev_env: WorkflowEnvironment, settings: Settings, api_url: str, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    cert, key = client_certificate(pki, tmp_path, "mcs-worker")
    port = int(dev_env.client.service_client.config.target_host.rsplit(":", 1)[1])
    async with tls_terminator(port, pki, client_ca=pki.ca) as tls_port:
        plain = settings.model_copy(
            update={
                "temporal_address": f"localhost:{tls_port}",
                "task_queue": f"tls-{uuid.uuid4()}",
            }
        )
        tls = plain.model_copy(update={"temporal_tls": True, "temporal_tls_ca": str(pki.ca)})
        mtls = tls.model_copy(update={"temporal_tls_cert": str(cert), "temporal_tls_key": str(key)})
        stranger = mtls.model_copy(update={"temporal_tls_ca": str(pki.stranger)})
        for without in (plain, tls, stranger):  # no TLS; no client certificate; another CA
            assert await refused(without)
        client = await connect(mtls)
        async with running_worker(client, mtls):
            app = create_app(mtls)  # the API connects by itself, in its lifespan
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://api", headers={"X-API-Key": "test-key"}
                ) as api:
                    body = make_email().model_dump(mode="json", by_alias=True)
                    answer = await api.post("/v1/orchestrations/sales-email/run", json=body)
                    run = await finished(api, answer.json()["workflow_id"], seconds=60)
        assert run["status"] == RunStatus.SUCCESS, run
        doctor = await asyncio.create_subprocess_exec(
            MCS, "doctor", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "MCS_DATA_DIR": str(settings.data_dir),
                 "MCS_TEMPORAL_ADDRESS": mtls.temporal_address, "MCS_TEMPORAL_TLS": "true",
                 "MCS_TEMPORAL_TLS_CA": str(pki.ca), "MCS_TEMPORAL_TLS_CERT": str(cert),
                 "MCS_TEMPORAL_TLS_KEY": str(key)},
        )  # fmt: skip
        output = (await doctor.communicate())[0].decode()
    assert any(line.split()[:2] == ["temporal", "up"] for line in output.splitlines()), output


def test_a_certificate_without_its_key_is_a_clear_error(tmp_path: Path) -> None:
    from temporal_client import tls_config

    with pytest.raises(ValueError, match="go together"):
        tls_config(Settings(temporal_tls_cert=str(tmp_path / "c.pem")))
    assert tls_config(Settings()) is False
