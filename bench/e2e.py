"""Throughput and latency of MCS end to end, side by side with two floors on the same server.

Starts a Temporal dev server, the simulators (zero latency), `mcs worker`, `mcs api` and a floor
worker as separate processes on loopback (with `--database postgresql`, a PostgreSQL server of its
own as MCS's database), then prints:
  - intake p50/p99 of `POST .../run` while submitting at --rate emails/s and runs are processed,
  - end-to-end emails/s for a burst of --emails, 32 in flight, and in the same run the workflows/s
    of a no-op workflow of MCS's own shape (bench/floor.py, read from a SUCCESS run's history)
    and of eleven no-op activities, with the ratios, each worker's CPU per run and every
    process's CPU per run of MCS against the shape floor (`cpu_ratio`) and the ceiling of that
    quotient when MCS's worker and the server cost what the floor's do (`cpu_ceiling`) (--rounds N:
    the three bursts taken in turn N times, each figure their median),
  - the workflow history size of a run whose PDF is 5 MB (target < 64 KB).
With --json the last line is one JSON object of these figures.
"""

import argparse
import asyncio
import gc
import itertools
import json
import os
import shutil
import signal
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
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities._transport import UVICORN_CLIENT_KEEPALIVE, AiohttpTransport  # noqa: E402
from bench import percentile  # noqa: E402
from bench.floor import Floor11Workflow, ShapeWorkflow, shape_of  # noqa: E402
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
PROFILE: Path | None = None  # --profile: where py-spy's samples of the MCS burst go
ROUNDS = 1  # --rounds: the bursts taken in turn this often, each figure their median


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
) -> float:
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
    return percentile(latencies, 0.99)


async def e2e_throughput(
    api: httpx.AsyncClient, client: Client, count: int, done: list[str] | None = None
) -> float:
    """Emails/s end to end; the runs' workflow ids go into `done`."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> str:
        async with gate:  # submitted and finished: CONCURRENCY runs in flight at most
            workflow_id, _ = await submit(api)
            result = await accepted_result(client, workflow_id)
        assert getattr(result, "status", "") == "SUCCESS", result
        return workflow_id

    started = time.perf_counter()
    finished = await asyncio.gather(*(one() for _ in range(count)))
    rate = count / (time.perf_counter() - started)
    if done is not None:
        done.extend(finished)
    return rate


async def floor_throughput(
    client: Client,
    count: int,
    task_queue: str,
    shape: list[str] | None = None,
    done: list[str] | None = None,
) -> float:
    """Workflows/s of a floor: the shape floor when `shape` is given, else the 11-activity one;
    the workflow ids go into `done`."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> int:
        async with gate:
            workflow_id = f"floor-{uuid.uuid4()}"
            if done is not None:
                done.append(workflow_id)
            if shape is None:
                eleven = await client.start_workflow(
                    Floor11Workflow.run, id=workflow_id, task_queue=task_queue
                )
                return await eleven.result()
            shaped = await client.start_workflow(
                ShapeWorkflow.run, shape, id=workflow_id, task_queue=task_queue
            )
            return await shaped.result()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


# Where a run's time goes, from its history: the span between two adjacent events (markers left
# out), by the pair of event types it lies between
PHASES = {
    (EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED): (
        "workflow tasks queued"
    ),
    (EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED): (
        "workflow tasks running (local steps in them)"
    ),
    (EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED): (
        "remote steps"
    ),
}


def phases_of(history: WorkflowHistory) -> dict[str, float]:
    """Seconds of one run in each phase, and in all (`run`)."""
    marker = EventType.EVENT_TYPE_MARKER_RECORDED
    events = [e for e in history.events if e.event_type != marker]
    at = [e.event_time.ToNanoseconds() / 1e9 for e in events]
    spent = dict.fromkeys(["run", *PHASES.values()], 0.0)
    for i, (before, after) in enumerate(itertools.pairwise(events)):
        phase = PHASES.get((before.event_type, after.event_type))
        if phase:
            spent[phase] += at[i + 1] - at[i]
    spent["run"] = at[-1] - at[0]
    return spent


async def print_phases(client: Client, label: str, workflow_ids: list[str]) -> None:
    """The median run's time in each phase, over the middle half of a burst (up to 40 runs):
    what a run waits for, against what its steps take."""
    middle = workflow_ids[len(workflow_ids) // 4 :][: max(1, min(40, len(workflow_ids) // 2))]
    histories = [await client.get_workflow_handle(w).fetch_history() for w in middle]
    spent = [phases_of(h) for h in histories]
    shown = ", ".join(
        f"{name} {statistics.median(s[name] for s in spent) * 1000:.0f}" for name in spent[0]
    )
    print(f"  where a run's time went ({label}, median of {len(spent)}, ms): {shown}")


async def mcs_shape(api: httpx.AsyncClient, client: Client) -> list[str]:
    """The shape of a SUCCESS run of MCS, as its history shows it."""
    workflow_id, _ = await submit(api)
    assert (await accepted_result(client, workflow_id)).status == "SUCCESS"
    return shape_of(await client.get_workflow_handle(workflow_id).fetch_history())


async def history_of_big_pdf(api: httpx.AsyncClient, client: Client) -> int:
    pdf = contract_pdf("HT-BIG", pad_to=5 * 1024 * 1024)
    workflow_id, _ = await submit(api, pdf)
    result = await accepted_result(client, workflow_id)
    description = await client.get_workflow_handle(workflow_id).describe()
    size = description.raw_description.workflow_execution_info.history_size_bytes
    events = description.raw_description.workflow_execution_info.history_length
    print(f"history of a run with a {len(pdf) / 1e6:.1f} MB PDF: {size / 1024:.1f} KB in {events} "
          f"events, status {getattr(result, 'status', result)} (target < 64 KB)")  # fmt: skip
    return int(size)


Processes = dict[str, "subprocess.Popen[bytes]"]
Figures = dict[str, float]
Commands = dict[str, list[str]]
Env = dict[str, str]


def cpu_seconds(processes: Processes) -> dict[str, float]:
    """CPU seconds each process has used so far (Linux /proc), this script included."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in [*((n, p.pid) for n, p in processes.items()), ("bench", os.getpid())]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two `cpu_seconds` readings."""
    return {name: after[name] - before.get(name, 0.0) for name in after}


def print_cpu(label: str, spent: dict[str, float]) -> None:
    shown = ", ".join(f"{n} {s:.1f}" for n, s in spent.items() if s >= 0.05)
    print(f"  CPU seconds {label}: {shown}")


def profiled(everyone: Processes, names: tuple[str, ...]) -> list["subprocess.Popen[bytes]"]:
    """py-spy recording each named process (collapsed stacks in PROFILE/<name>.txt) until
    interrupted; nothing without --profile."""
    if PROFILE is None:
        return []
    PROFILE.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--format",
                "raw",
                "--rate",
                "100",
                "--nonblocking",
                "--gil",
                "--pid",
                str(everyone[name].pid),
                "--output",
                str(PROFILE / f"{name.replace(' ', '-')}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name in names
    ]


async def step_seconds(metrics: int) -> float:
    """Seconds the worker's steps have taken so far, every attempt (its histogram's sums)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{metrics}/metrics")).text
    prefix = "orchestrator_step_duration_seconds_sum"
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


async def mcs_burst(
    api: httpx.AsyncClient,
    client: Client,
    count: int,
    everyone: Processes,
    first: bool,
    metrics: int,
) -> tuple[float, list[str], float]:
    """Emails/s of one MCS burst (py-spy on the worker and API in the `first`), its runs' workflow
    ids, and the steps' own seconds per run."""
    spies = profiled(everyone, ("worker", "api")) if first else []
    runs: list[str] = []
    own = await step_seconds(metrics)
    rate = await e2e_throughput(api, client, count, runs)
    own = (await step_seconds(metrics) - own) / count
    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        spy.wait(30)
    return rate, runs, own


# The processes of an MCS burst that a floor burst has no part of: MCS's intake, and the
# simulators of the systems its steps call (the bench's own extra work is added apart)
BESIDE_THE_RUNS = ("api", "dify", "erp", "smtp")


def cpu_ceiling(mcs: Figures, floor: Figures) -> float:
    """The `cpu_ratio` MCS would reach if its worker and the Temporal server cost no more per run
    than the shape floor's do: the floor's CPU over itself plus what MCS's burst needs beside the
    runs (intake, simulators, the bench's HTTP submissions). No step work is counted, so MCS
    cannot reach it; a goal above it cannot be met on this machine."""
    beside = sum(mcs.get(name, 0.0) for name in BESIDE_THE_RUNS)
    beside += max(0.0, mcs["bench"] - floor["bench"])
    floors = sum(floor.values())
    return floors / (floors + beside)


def round_figures(count: int, rates: tuple[float, float, float], spent: list[Figures]) -> Figures:
    """One round's figures, from the three bursts' rates and each process's CPU seconds in them."""
    mcs, floor, floor11 = rates
    return {
        "e2e_per_s": mcs, "floor_per_s": floor, "ratio": mcs / floor,
        "floor11_per_s": floor11, "ratio11": mcs / floor11,
        "worker_cpu_ms_per_email": spent[0]["worker"] * 1000 / count,
        "floor_cpu_ms_per_wf": spent[1]["floor"] * 1000 / count,
        "floor11_cpu_ms_per_wf": spent[2]["floor"] * 1000 / count,
        "temporal_cpu_ms_per_email": spent[0]["temporal"] * 1000 / count,
        "cpu_ratio": sum(spent[1].values()) / sum(spent[0].values()),
        "cpu_ceiling": cpu_ceiling(spent[0], spent[1]),
    }  # fmt: skip


def print_round(
    turn: int, count: int, commands: int, figures: Figures, spent: list[Figures]
) -> None:
    mcs, floor, floor11 = (figures[f] for f in ("e2e_per_s", "floor_per_s", "floor11_per_s"))
    print(f"end to end, {count} emails, {CONCURRENCY} in flight (round {turn + 1}):")
    print(f"  MCS {mcs:.1f} emails/s   floor of MCS's shape ({commands} commands)"
          f" {floor:.1f} wf/s   ratio {figures['ratio']:.2f}x (target >= 0.8x)")  # fmt: skip
    print(f"  floor of 11 no-op activities {floor11:.1f} wf/s   ratio {figures['ratio11']:.2f}x"
          " (target >= 1.25x)")  # fmt: skip
    for label, used in zip(("MCS", "shape floor", "11-activity floor"), spent, strict=True):
        print_cpu(f"during the {label} burst", used)
    ours, shaped = (sum(used.values()) * 1000 / count for used in spent[:2])
    print(f"  CPU per run, every process: MCS {ours:.0f} ms, shape floor {shaped:.0f} ms;"
          f" floor / MCS {figures['cpu_ratio']:.2f} (the ratio when both bursts keep the cores"
          " busy, and steadier than it)")  # fmt: skip
    print(f"  ceiling of that quotient (MCS's worker and the server no dearer than the floor's,"
          f" intake and simulators as measured): {figures['cpu_ceiling']:.2f}")  # fmt: skip


async def bursts(
    api: httpx.AsyncClient,
    client: Client,
    count: int,
    everyone: Processes,
    rounds: int = 1,
    metrics: int = 0,
) -> Figures:
    """The MCS burst, then each floor's, one after the other on the same server; `rounds` times
    in turn, each figure the median of its rounds: this machine's speed drifts by a fifth within
    a minute, and bursts taken in turn see the same drift."""
    shape = await mcs_shape(api, client)
    await e2e_throughput(api, client, 10)  # warm-up
    await floor_throughput(client, 10, "floor", shape)
    await floor_throughput(client, 10, "floor")
    taken: list[Figures] = []
    for turn in range(rounds):
        cpu = [cpu_seconds(everyone)]
        mcs, runs, own = await mcs_burst(api, client, count, everyone, turn == 0, metrics)
        cpu.append(cpu_seconds(everyone))
        shaped: list[str] = []
        floor = await floor_throughput(client, count, "floor", shape, shaped)
        cpu.append(cpu_seconds(everyone))
        floor11 = await floor_throughput(client, count, "floor")
        cpu.append(cpu_seconds(everyone))
        spent = [cpu_between(cpu[i], cpu[i + 1]) for i in range(3)]
        taken.append(round_figures(count, (mcs, floor, floor11), spent))
        print_round(turn, count, len(shape), taken[-1], spent)
        if turn == 0:
            await print_phases(client, "MCS", runs)
            print(f"    the steps' own time (the worker's histogram), per run: {own * 1000:.0f}")
            await print_phases(client, "shape floor", shaped)
    figures = {name: statistics.median(t[name] for t in taken) for name in taken[0]}
    if rounds > 1:
        worker, floor11 = figures["worker_cpu_ms_per_email"], figures["floor11_cpu_ms_per_wf"]
        print(f"medians of {rounds} rounds: ratio {figures['ratio']:.2f}x, ratio11"
              f" {figures['ratio11']:.2f}x, worker {worker:.1f} ms per email,"
              f" 11-activity floor {floor11:.1f} ms per wf,"
              f" CPU per run floor / MCS {figures['cpu_ratio']:.2f}"
              f" (ceiling {figures['cpu_ceiling']:.2f})")  # fmt: skip
    return figures


def bench_client(port: int) -> httpx.AsyncClient:
    """The bench's client of an API: the worker's transport, which costs a fraction of httpx's own
    pool (bench/http_client.py): the load generator shares the two cores with MCS, and its own
    CPU is counted into the intake latency it reports. Idle connections are dropped before the
    API's uvicorn ends them (`UVICORN_CLIENT_KEEPALIVE`)."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"X-API-Key": BENCH_KEY},
        timeout=60,
        transport=AiohttpTransport(keepalive=UVICORN_CLIENT_KEEPALIVE),
    )


async def measure(
    count: int, rate: float, ports: dict[str, int], address: str, everyone: Processes
) -> Figures:
    for name in ("api", "intake", "dify", "erp", "smtp"):
        await wait_for_port(ports[name])
    client = await Client.connect(address, data_converter=PLAIN_CONVERTER)
    async with bench_client(ports["api"]) as api:
        await e2e_throughput(api, client, 10)  # warm-up
        label = "while the runs are processed"
        figures: Figures = {"intake_p99_ms": await paced_intake(api, client, count, rate, label)}
        figures.update(await bursts(api, client, count, everyone, ROUNDS, ports["metrics"]))
        figures["history_bytes"] = await history_of_big_pdf(api, client)
    async with bench_client(ports["intake"]) as intake:
        await paced_intake(intake, None, 20, rate, "warm-up")
        label = "no run processed (intake alone)"
        figures["intake_alone_p99_ms"] = await paced_intake(intake, None, count, rate, label)
    print_cpu("over the whole run", cpu_seconds(everyone))
    return figures


async def watched(work: Coroutine[Any, Any, Figures], processes: Processes, root: Path) -> Figures:
    """Run `work`, but stop at once with the reason if one of the processes exits."""

    async def watch() -> None:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited ({process.returncode}): see {root}/{name}.log")
            await asyncio.sleep(0.5)

    watchdog, task = asyncio.create_task(watch()), asyncio.create_task(work)
    await asyncio.wait({watchdog, task}, return_when=asyncio.FIRST_COMPLETED)
    watchdog.cancel()
    if not task.done():
        task.cancel()
        watchdog.result()  # the process that exited
    return task.result()


def stack(root: Path, ports: dict[str, int], database_url: str) -> tuple[Commands, Env, Env]:
    """The processes' commands, and the environments of the stack and of the intake-only API
    (it starts runs on a task queue no worker polls: intake cost alone)."""
    commands, env = process_stack(root, ports, BENCH_KEY)
    del env["MCS_PAYLOAD_KEY"]  # measured as before: plain payloads, like the floor's
    env["MCS_ENV"] = "dev"
    if database_url:
        env["MCS_DATABASE_URL"] = database_url
    commands["intake-only api"] = commands["api"]
    address = f"127.0.0.1:{ports['temporal']}"
    commands["floor"] = [
        sys.executable,
        str(Path(__file__).with_name("floor.py")),
        "--address",
        address,
    ]
    intake_env = {**env, "MCS_API_PORT": str(ports["intake"]), "MCS_TASK_QUEUE": "no-worker"}
    return commands, env, intake_env


async def main(count: int, rate: float, database_url: str = "") -> Figures:
    """The figures; the stack's directory is removed after them (kept when the bench fails:
    its logs say why)."""
    root = Path(tempfile.mkdtemp(prefix="mcs-bench-"))
    figures = await on_stack(root, count, rate, database_url)
    shutil.rmtree(root, ignore_errors=True)
    return figures


async def on_stack(root: Path, count: int, rate: float, database_url: str) -> Figures:
    names = ("temporal", "ui", "api", "intake", "dify", "erp", "smtp", "metrics")
    ports = {n: free_port() for n in names}
    settings = Settings(
        data_dir=root, temporal_port=ports["temporal"], temporal_ui_port=ports["ui"],
        database_url=database_url,
    )  # fmt: skip
    load_demo_masterdata(settings)
    commands, env, intake_env = stack(root, ports, database_url)
    async with temporal_server(settings) as server:
        processes = [
            spawn(cmd, root / f"{name}.log", intake_env if name.startswith("intake") else env)
            for name, cmd in commands.items()
        ]
        everyone = {"temporal": server, **dict(zip(commands, processes, strict=True))}
        address = f"127.0.0.1:{ports['temporal']}"
        try:
            return await watched(measure(count, rate, ports, address, everyone), everyone, root)
        finally:
            for process in processes:
                stop_process(process)


def on_postgresql(count: int, rate: float) -> Figures:
    """The bench with MCS's database on a PostgreSQL server of its own."""
    from sandbox.postgres import create_database, postgres_server

    with postgres_server() as server:
        return asyncio.run(main(count, rate, create_database(server, "bench")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON figures")
    parser.add_argument("--profile", type=Path, help="py-spy the worker and API's burst into DIR")
    parser.add_argument(
        "--rounds", type=int, default=1, help="take the three bursts in turn N times (medians)"
    )
    args = parser.parse_args()
    PROFILE, ROUNDS = args.profile, max(1, args.rounds)
    if args.database == "postgresql":
        figures = on_postgresql(args.emails, args.rate)
    else:
        figures = asyncio.run(main(args.emails, args.rate))
    if args.json:
        print(
            json.dumps({"database": args.database, **{k: round(v, 2) for k, v in figures.items()}})
        )
