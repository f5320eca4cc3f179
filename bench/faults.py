"""Exactly one ERP order per email on a bad day.

Starts a Temporal dev server, the simulators, two `mcs worker` processes and `mcs api` on
loopback, then submits --emails emails while Dify answers 30% 5xx and 10% too late, and the ERP
ignores `Idempotency-Key` and loses 10% of its answers after committing. Mid-burst, one worker is
SIGKILLed (and started again) and the Temporal dev server is restarted. Prints: runs terminal,
SUCCESS count, ERP orders per email, and when the runs were done after the worker restart (p50,
p90, the last, and the steps the last retried: Dify's backoff for its unluckiest email sets the
tail).
"""

import argparse
import asyncio
import collections
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import percentile  # noqa: E402
from devstack import (  # noqa: E402
    free_port,
    load_demo_masterdata,
    process_stack,
    spawn,
    stop_process,
    temporal_command,
    wait_for_port,
)
from sandbox.demo import make_email  # noqa: E402
from settings import Settings  # noqa: E402

RUNS = "/v1/orchestrations/sales-email/runs"
BENCH_KEY = "bench-admin-key-0123456789"  # the stack runs in production: a key of 16+ chars
TERMINAL_WAIT = 900.0  # seconds at most for every run to end
DIFY_FAULTS = {"error_rate": 0.3, "timeout_rate": 0.1, "timeout_ms": 8000}
ERP_FAULTS = {"ignore_idempotency": True, "drop_after_commit_rate": 0.1}


def own(env: dict[str, str]) -> dict[str, str]:
    """The environment with metrics ports of its own (several workers on one host)."""
    return {**env, "MCS_WORKER_METRICS_PORT": str(free_port())}


async def submit_all(api: httpx.AsyncClient, count: int) -> list[str]:
    limit = asyncio.Semaphore(16)

    async def one() -> str:
        async with limit:
            body = make_email().model_dump(mode="json", by_alias=True)
            response = await api.post("/v1/orchestrations/sales-email/run", json=body)
            response.raise_for_status()
            return str(response.json()["workflow_id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


READS: list[float] = []  # seconds of every run detail read, and of the failed ones
FAILED_READS: list[str] = []


async def statuses(api: httpx.AsyncClient, workflow_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for workflow_id in workflow_ids:
        asked = time.monotonic()
        try:
            response = await api.get(f"{RUNS}/{workflow_id}")
            found[workflow_id] = response.json().get("status", "?") if response.is_success else "?"
            if not response.is_success:
                FAILED_READS.append(f"HTTP {response.status_code}")
        except httpx.HTTPError as error:
            found[workflow_id] = "?"
            FAILED_READS.append(type(error).__name__)
        READS.append(time.monotonic() - asked)
    return found


async def until_terminal(
    api: httpx.AsyncClient, workflow_ids: list[str], since: float
) -> tuple[dict[str, str], dict[str, float]]:
    """Every run's status once none is running (or at TERMINAL_WAIT), and when each was first
    seen ended, in seconds after `since`. Only runs still going are read again."""
    deadline = time.monotonic() + TERMINAL_WAIT
    found: dict[str, str] = {}
    ended: dict[str, float] = {}
    going = list(workflow_ids)
    while going and time.monotonic() < deadline:
        found.update(await statuses(api, going))
        seen = time.monotonic() - since
        ended.update({w: seen for w in going if found[w] not in ("RUNNING", "?")})
        going = [w for w in going if w not in ended]
        if going:
            await asyncio.sleep(1.0)
    return found, ended


async def attempts_of(api: httpx.AsyncClient, workflow_id: str) -> str:
    """The attempts of each step of a run, as its audit trail counts them."""
    audit = (await api.get(f"{RUNS}/{workflow_id}")).json().get("audit", [])
    counted = collections.Counter(str(entry["step"]) for entry in audit)
    return ", ".join(f"{step} {n}" for step, n in counted.items() if n > 1) or "one each"


async def main(count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="mcs-faults-"))
    ports = {n: free_port() for n in ("temporal", "ui", "api", "dify", "erp", "smtp")}
    settings = Settings(
        data_dir=root, temporal_port=ports["temporal"], temporal_ui_port=ports["ui"]
    )
    load_demo_masterdata(settings)
    commands, env = process_stack(root, ports, BENCH_KEY)
    env.update(MCS_DIFY_TIMEOUT="PT5S", MCS_ERP_TIMEOUT="PT5S")
    commands["worker-2"] = commands["worker"]
    server = spawn(temporal_command(settings), root / "temporal.log")
    await wait_for_port(ports["temporal"], server)
    processes = {name: spawn(cmd, root / f"{name}.log", own(env)) for name, cmd in commands.items()}
    try:
        for name in ("api", "dify", "erp", "smtp"):
            await wait_for_port(ports[name])
        async with httpx.AsyncClient(timeout=60) as http:
            await http.post(f"http://127.0.0.1:{ports['dify']}/_sandbox/faults", json=DIFY_FAULTS)
            await http.post(f"http://127.0.0.1:{ports['erp']}/_sandbox/faults", json=ERP_FAULTS)
        api = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{ports['api']}", headers={"X-API-Key": BENCH_KEY},
            timeout=60,
        )  # fmt: skip
        async with api:
            started = time.monotonic()
            burst = asyncio.create_task(submit_all(api, count))
            await asyncio.sleep(3)
            os.kill(processes["worker"].pid, signal.SIGKILL)  # a worker dies mid-burst
            processes["worker"].wait()
            print(f"worker SIGKILLed {time.monotonic() - started:.1f} s into the burst")
            processes["worker"] = spawn(commands["worker"], root / "worker-again.log", own(env))
            restarted = time.monotonic()
            await asyncio.sleep(3)
            stop_process(server)  # and the Temporal server goes away and comes back
            server = spawn(temporal_command(settings), root / "temporal.log")
            await wait_for_port(ports["temporal"], server)
            print(f"Temporal dev server restarted {time.monotonic() - started:.1f} s in")
            workflow_ids = await burst
            found, ended = await until_terminal(api, workflow_ids, restarted)
            erp = await api.get(f"http://127.0.0.1:{ports['erp']}/v1/orders")
            last = max(ended, key=ended.__getitem__, default="")
            retried = await attempts_of(api, last) if last else ""
        report(count, found, erp.json(), ended, retried)
    finally:
        for process in [*processes.values(), server]:
            stop_process(process)
    shutil.rmtree(root, ignore_errors=True)  # kept when the bench stops on an error: its logs


def report(
    count: int,
    found: dict[str, str],
    orders: list[dict[str, Any]],
    ended: dict[str, float],
    retried: str,
) -> None:
    per_email = collections.Counter(str(order["audit"]["workflow_id"]) for order in orders)
    outcomes = collections.Counter(found.values())
    terminal = sum(n for status, n in outcomes.items() if status not in ("RUNNING", "?"))
    success = [w for w, s in found.items() if s == "SUCCESS"]
    exact = sum(1 for w in success if per_email[w] == 1)
    extra = {w: n for w, n in per_email.items() if n != 1 or found.get(w) != "SUCCESS"}
    print(f"emails submitted:             {count}")
    print(f"runs terminal:                {terminal} of {count}  {dict(outcomes)}")
    print(f"SUCCESS:                      {len(success)}")
    print(f"SUCCESS with exactly 1 order: {exact} of {len(success)}")
    print(f"emails with 0 or 2+ orders, or an order without SUCCESS: {len(extra)} {extra}")
    print(f"ERP orders in all:            {len(orders)}")
    done = sorted(ended.values()) or [0.0]  # sorted: its last is the last run
    print(f"worker restart -> runs done:  p50 {percentile(done, 0.5):.1f} s, p90 "
          f"{percentile(done, 0.9):.1f} s, last {done[-1]:.1f} s")  # fmt: skip
    print(f"  the last run's retried steps (attempts): {retried}")
    reads = sorted(READS)
    if reads:
        p50, p99 = percentile(reads, 0.5), percentile(reads, 0.99)
        slow = sum(1 for r in reads if r >= 1.0)
        print(
            f"run detail reads meanwhile:   {len(reads)}, p50 {p50 * 1000:.0f} ms, p99 "
            f"{p99 * 1000:.0f} ms, max {reads[-1]:.1f} s, {slow} of 1 s or more, "
            f"failed {len(FAILED_READS)} {sorted(set(FAILED_READS))}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=200)
    asyncio.run(main(parser.parse_args().emails))
