"""The production topology without containers: Temporal, PostgreSQL and an S3 store shared by an
API and two `mcs worker` processes with data directories of their own (nothing else shared).
Emails are submitted, one worker is SIGKILLed mid-run, and every run completes with exactly one
ERP order, though the ERP makes a new order for a repeated key."""

import asyncio
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx
from sqlmodel import Session
from temporalio.client import Client

from devstack import spawn, stop_process, temporal_server, wait_for_port
from models import masterdata_store
from models.codec import data_converter
from models.db import make_engine
from sandbox.demo import demo_masterdata, make_email
from sandbox.faults import Faults
from sandbox.postgres import create_database
from settings import Settings
from tests.helpers import Sims, binary, finished, free_ports, s3_server, sims_env

MCS = str(Path(sys.executable).parent / "mcs")
KEY = secrets.token_urlsafe(24)
RUNS = 12


def prepare(env: dict[str, str], database: str) -> None:
    """`mcs db upgrade` on the new database, then the demo masterdata into it."""
    upgraded = subprocess.run([MCS, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    engine = make_engine(database)
    with Session(engine) as session:
        masterdata_store.apply(session, demo_masterdata())
    engine.dispose()


def tails(root: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace")[-3000:] for p in root.glob("*.log")}


def production_env(
    aws: dict[str, str], ports: dict[str, int], database: str, sims: Sims
) -> dict[str, str]:
    """The environment of the test's `mcs api` and `mcs worker` processes (production mode)."""
    return {
        **os.environ, **aws,
        "MCS_ENV": "production",
        "MCS_TRUSTED_AUTHSERV_IDS": "mx.mcs.example",
        "MCS_SMTP_TLS": "off",  # the SMTP sink on loopback offers no STARTTLS
        "MCS_API_KEYS": f"ops:{KEY}:admin",
        "MCS_FILE_URL_SECRET": secrets.token_urlsafe(32),
        "MCS_PAYLOAD_KEY": f"k1:{base64.b64encode(os.urandom(32)).decode()}",
        "MCS_DATABASE_URL": database,
        "MCS_BLOB_URL": "s3://mcs/blobs",
        "MCS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "MCS_TASK_QUEUE": "topology",
        "MCS_API_PORT": str(ports["api"]),
        "MCS_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['api']}",
        **sims_env(sims),
    }  # fmt: skip


async def submit_then_kill(
    http: httpx.AsyncClient, sims: Sims, worker: "subprocess.Popen[bytes]"
) -> list[str]:
    """Submit the runs, and SIGKILL `worker` while their Dify calls are in flight."""
    sims.erp_faults.faults = Faults(ignore_idempotency=True)
    sims.dify_faults.faults = Faults(latency_ms=400)  # runs stay in flight a while
    ids = []
    for _ in range(RUNS):
        email = make_email().model_dump(mode="json", by_alias=True)
        answer = await http.post("/v1/orchestrations/sales-email/run", json=email)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["workflow_id"])
    requests_before = sims.dify_faults.requests
    for _ in range(600):
        if sims.dify_faults.requests >= requests_before + 4:
            break
        await asyncio.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)  # mid-run: Dify calls in flight
    worker.wait()
    return ids


async def all_ended(env: dict[str, str], ids: list[str]) -> None:
    """Wait for the runs through Temporal (the run details are read once they ended)."""
    temporal = await Client.connect(
        env["MCS_TEMPORAL_ADDRESS"], data_converter=data_converter(env["MCS_PAYLOAD_KEY"])
    )
    for workflow_id in ids:
        await asyncio.wait_for(temporal.get_workflow_handle(workflow_id).result(), 120)


def local_blobs(root: Path) -> list[Path]:
    return [p for p in root.glob("*/blobs") if p.parent.name != "temporal"]


def orders_by_run(sims: Sims) -> Counter[str]:
    """The ERP orders per workflow id. The simulators serve the whole session: orders of other
    tests are there too, some with no audit."""
    audits = [o.get("audit") or {} for o in sims.erp_orders.values()]
    return Counter(str(a.get("workflow_id", "")) for a in audits)  # type: ignore[attr-defined]


async def test_two_workers_on_postgresql_and_s3_survive_a_killed_worker(
    postgres: str, sims: Sims
) -> None:
    binary("temporal")
    root = Path(tempfile.mkdtemp(prefix="mcs-topology-"))
    ports = free_ports("temporal", "ui", "api", "m1", "m2", "m-api")
    database = create_database(postgres, f"topology_{secrets.token_hex(4)}")
    (root / "temporal").mkdir()
    async with s3_server() as aws, temporal_server(
        Settings(data_dir=root / "temporal", temporal_port=ports["temporal"],
                 temporal_ui_port=ports["ui"])
    ):  # fmt: skip
        env = production_env(aws, ports, database, sims)
        await asyncio.to_thread(prepare, env, database)

        def own(name: str, metrics: int) -> dict[str, str]:
            (root / name).mkdir()
            return {
                **env,
                "MCS_DATA_DIR": str(root / name),
                "MCS_WORKER_METRICS_PORT": str(metrics),
            }

        api = spawn([MCS, "api"], root / "api.log", own("api", ports["m-api"]))
        workers = [
            spawn([MCS, "worker"], root / f"{n}.log", own(n, ports[m]))
            for n, m in (("worker-1", "m1"), ("worker-2", "m2"))
        ]
        try:
            for port in (ports["api"], ports["m1"], ports["m2"]):
                await wait_for_port(port)
            headers = {"X-API-Key": KEY}
            async with httpx.AsyncClient(
                base_url=env["MCS_PUBLIC_BASE_URL"], headers=headers
            ) as http:
                ids = await submit_then_kill(http, sims, workers[0])
                await all_ended(env, ids)
                runs = [await finished(http, w, seconds=10) for w in ids]
        finally:
            sims.erp_faults.faults = Faults()
            sims.dify_faults.faults = Faults()
            for process in (*workers, api):
                stop_process(process)
    logs = tails(root)
    blob_dirs = local_blobs(root)
    shutil.rmtree(root, ignore_errors=True)
    assert [r["status"] for r in runs] == ["SUCCESS"] * RUNS, (runs, logs)
    orders = orders_by_run(sims)
    assert [orders[w] for w in ids] == [1] * RUNS  # exactly one ERP order each
    assert not blob_dirs  # nothing on a local disk: the contracts are in S3
