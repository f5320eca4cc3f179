"""Throughput and latency of MCS end to end, against a floor workflow on the same server.

Starts a Temporal dev server, the simulators (zero latency), `mcs worker`, `mcs api` and a floor
worker as separate processes on loopback, then prints:
  - intake p50/p99 of `POST .../run` while submitting at --rate emails/s (target p99 < 50 ms),
  - end-to-end emails/s for a burst of --emails, and the floor's workflows/s, with the ratio,
  - the workflow history size of a run whose PDF is 5 MB (target < 64 KB).
"""

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.floor import FloorWorkflow  # noqa: E402
from devstack import (  # noqa: E402
    free_port,
    load_demo_masterdata,
    process_stack,
    spawn,
    stop_process,
    temporal_server,
    wait_for_port,
)
from models.codec import PLAIN_CONVERTER  # noqa: E402
from sandbox.demo import contract_pdf, make_email  # noqa: E402
from settings import Settings  # noqa: E402
from temporal_client import accepted_result  # noqa: E402

BENCH_KEY = "bench-admin-key-0123456789"
CONCURRENCY = 32


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def submit(api: httpx.AsyncClient, pdf: bytes | None = None) -> tuple[str, float]:
    body = make_email(pdf=pdf).model_dump(mode="json", by_alias=True)
    started = time.perf_counter()
    response = await api.post("/v1/orchestrations/sales-email/run", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return response.json()["workflow_id"], elapsed


async def wait_all(client: Client, workflow_ids: list[str]) -> list[str]:
    results = await asyncio.gather(*(accepted_result(client, w) for w in workflow_ids))
    return [str(getattr(r, "status", r)) for r in results]


RUN_ROUTE = 'route="/v1/orchestrations/sales-email/run"'


async def request_buckets(api: httpx.AsyncClient) -> dict[float, float]:
    """The API's own histogram of `POST .../run` durations: cumulative count per bucket bound."""
    buckets: dict[float, float] = {}
    for line in (await api.get("/metrics/")).text.splitlines():
        if line.startswith("mcs_api_request_seconds_bucket") and RUN_ROUTE in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            key = float("inf") if bound == "+Inf" else float(bound)
            buckets[key] = buckets.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The histogram bucket holding quantile `q` of the requests between two scrapes."""
    counts = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = counts.get(float("inf"), 0.0)
    for bound, count in counts.items():
        if total and count >= q * total:
            return f"<= {bound * 1000:.0f} ms"
    return "n/a"


async def paced_intake(
    api: httpx.AsyncClient, client: Client | None, count: int, rate: float, label: str
) -> None:
    """Submit at a steady rate; `client` given: also wait for every run to finish.

    This client's garbage collector is paused while it submits: a full collection of the bench's
    own objects took 75 ms here, and would be counted as intake latency.
    """
    before = await request_buckets(api)
    gc.collect()
    gc.freeze()
    gc.disable()
    started = time.perf_counter()

    async def one(i: int) -> tuple[str, float]:
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        return await submit(api)

    try:
        submitted = await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        gc.enable()
        gc.unfreeze()
    latencies = [latency * 1000 for _, latency in submitted]
    print(f"intake at {rate:.0f} emails/s, {count} emails, {label}:")
    print(f"  p50 {statistics.median(latencies):.1f} ms   p99 {percentile(latencies, 0.99):.1f} ms"
          f"   max {max(latencies):.1f} ms   (target p99 < 50 ms)")  # fmt: skip
    after = await request_buckets(api)
    print(f"  inside the API (its histogram): p50 {bucket_quantile(before, after, 0.5)}"
          f"   p99 {bucket_quantile(before, after, 0.99)}")  # fmt: skip
    if client is not None:
        statuses = await wait_all(client, [w for w, _ in submitted])
        print(f"  outcomes: {sorted(set(statuses))}")


async def e2e_throughput(api: httpx.AsyncClient, client: Client, count: int) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> str:
        async with gate:  # submitted and finished: CONCURRENCY runs in flight at most
            workflow_id, _ = await submit(api)
            result = await accepted_result(client, workflow_id)
        assert getattr(result, "status", "") == "SUCCESS", result
        return workflow_id

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def floor_throughput(client: Client, count: int, task_queue: str) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> int:
        async with gate:
            handle = await client.start_workflow(
                FloorWorkflow.run, id=f"floor-{uuid.uuid4()}", task_queue=task_queue
            )
            return await handle.result()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def history_of_big_pdf(api: httpx.AsyncClient, client: Client) -> None:
    pdf = contract_pdf("HT-BIG", pad_to=5 * 1024 * 1024)
    workflow_id, _ = await submit(api, pdf)
    result = await accepted_result(client, workflow_id)
    description = await client.get_workflow_handle(workflow_id).describe()
    size = description.raw_description.workflow_execution_info.history_size_bytes
    events = description.raw_description.workflow_execution_info.history_length
    print(f"history of a run with a {len(pdf) / 1e6:.1f} MB PDF: {size / 1024:.1f} KB in {events} "
          f"events, status {getattr(result, 'status', result)} (target < 64 KB)")  # fmt: skip


Processes = dict[str, "subprocess.Popen[bytes]"]


def cpu_seconds(processes: Processes) -> dict[str, float]:
    """CPU seconds each process has used so far (Linux /proc), this script included."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in [*((n, p.pid) for n, p in processes.items()), ("bench", os.getpid())]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def print_cpu(label: str, used: dict[str, float], before: dict[str, float] | None = None) -> None:
    spent = {n: s - (before or {}).get(n, 0.0) for n, s in used.items()}
    shown = ", ".join(f"{n} {s:.1f}" for n, s in spent.items() if s >= 0.05)
    print(f"  CPU seconds {label}: {shown}")


async def measure(
    count: int, rate: float, ports: dict[str, int], address: str, everyone: Processes
) -> None:
    for name in ("api", "intake", "dify", "erp", "smtp"):
        await wait_for_port(ports[name])
    client = await Client.connect(address, data_converter=PLAIN_CONVERTER)
    headers = {"X-API-Key": BENCH_KEY}
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{ports['api']}",
        headers=headers,
        timeout=60,
        limits=limits,
    ) as api:
        await e2e_throughput(api, client, 10)  # warm-up
        await floor_throughput(client, 10, "floor")
        await paced_intake(api, client, count, rate, "while the runs are processed")
        before = cpu_seconds(everyone)
        mcs = await e2e_throughput(api, client, count)
        between = cpu_seconds(everyone)
        floor = await floor_throughput(client, count, "floor")
        after = cpu_seconds(everyone)
        print(f"end to end, {count} emails, {CONCURRENCY} in flight:")
        print(f"  MCS {mcs:.1f} emails/s   floor (11 no-op activities) {floor:.1f} wf/s"
              f"   ratio {mcs / floor:.2f}x (target >= 1.0x)")  # fmt: skip
        print_cpu("during the MCS burst", between, before)
        print_cpu("during the floor burst", after, between)
        await history_of_big_pdf(api, client)
    base = f"http://127.0.0.1:{ports['intake']}"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as intake:
        await paced_intake(intake, None, 20, rate, "warm-up")
        await paced_intake(intake, None, count, rate, "no run processed (intake alone)")
    print_cpu("over the whole run", cpu_seconds(everyone))


async def watched(work: Coroutine[Any, Any, None], processes: Processes, root: Path) -> None:
    """Run `work`, but stop at once with the reason if one of the processes exits."""

    async def watch() -> None:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited ({process.returncode}): see {root}/{name}.log")
            await asyncio.sleep(0.5)

    watchdog, task = asyncio.create_task(watch()), asyncio.create_task(work)
    done, _ = await asyncio.wait({watchdog, task}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (watchdog, task):
        pending.cancel()
    for finished in done:
        finished.result()


async def main(count: int, rate: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="mcs-bench-"))
    ports = {n: free_port() for n in ("temporal", "ui", "api", "intake", "dify", "erp", "smtp")}
    settings = Settings(
        data_dir=root, temporal_port=ports["temporal"], temporal_ui_port=ports["ui"]
    )
    load_demo_masterdata(settings)
    address = f"127.0.0.1:{ports['temporal']}"
    commands, env = process_stack(root, ports, BENCH_KEY)
    del env["MCS_PAYLOAD_KEY"]  # measured as before: plain payloads, like the floor's
    env["MCS_ENV"] = "dev"
    commands["intake-only api"] = commands["api"]
    commands["floor"] = [
        sys.executable,
        str(Path(__file__).with_name("floor.py")),
        "--address",
        address,
    ]
    async with temporal_server(settings) as server:
        # the intake-only API starts runs on a task queue no worker polls: intake cost alone
        intake_env = {**env, "MCS_API_PORT": str(ports["intake"]), "MCS_TASK_QUEUE": "no-worker"}
        processes = [
            spawn(cmd, root / f"{name}.log", intake_env if name.startswith("intake") else env)
            for name, cmd in commands.items()
        ]
        everyone = {"temporal": server, **dict(zip(commands, processes, strict=True))}
        try:
            await watched(measure(count, rate, ports, address, everyone), everyone, root)
        finally:
            for process in processes:
                stop_process(process)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    asyncio.run(main(args.emails, args.rate))
