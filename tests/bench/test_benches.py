"""Every bench starts from a fresh clone as the README says, so none can break silently: each
answers --help, and each runs once at a tiny size (its figures are for people, not asserted)."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from devstack import spawn, stop_process
from tests.helpers import binary
from tests.test_devstack import thread_nices

ROOT = Path(__file__).parent.parent.parent
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "__init__.py")
TINY = {
    "e2e.py": ["--emails", "4", "--rate", "20", "--rounds", "2", "--json"],
    "customer_index.py": ["--customers", "300", "--queries", "20"],
    "intake.py": ["--messages", "10"],
    "faults.py": ["--emails", "4"],
    "touchless.py": ["--contracts", "12", "--customers", "2"],
    "http_client.py": ["--calls", "10", "--rounds", "1", "--json"],
    "compare.py": ["--base", "HEAD", "--emails", "4", "--rounds", "1", "--json"],
}
FIGURES = {
    "intake_p99_ms", "e2e_per_s", "floor_per_s", "ratio", "floor11_per_s", "ratio11",
    "worker_cpu_ms_per_email", "floor11_cpu_ms_per_wf", "history_bytes", "cpu_ratio",
    "cpu_ceiling",
}  # fmt: skip


def bench(name: str, *args: str, timeout: float = 300) -> str:
    """Run bench/`name` as a script from another directory; its output (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        cwd="/", capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_answers_help(name: str) -> None:
    assert "usage:" in bench(name, "--help", timeout=60)


@pytest.mark.parametrize("name", [n for n in BENCHES if n in TINY])
def test_every_bench_runs_at_a_tiny_size(name: str) -> None:
    binary("temporal")
    out = bench(name, *TINY[name])
    if name == "touchless.py":  # the second sight of a customer's code: learned, no review
        assert "wrong order lines 0 (must be 0)" in out, out
    if name == "e2e.py":
        figures = json.loads(out.strip().splitlines()[-1])
        assert FIGURES <= set(figures), figures
        assert figures["history_bytes"] < 65536
    if name == "compare.py":  # both sides ran their bursts: the quotients are figures
        figures = json.loads(out.strip().splitlines()[-1])
        assert {"worker_ratio", "cpu_ratio", "rate_ratio"} <= set(figures), figures
        assert figures["base_worker_ms"] > 0 and figures["head_worker_ms"] > 0


def test_every_bench_but_the_floor_worker_has_a_tiny_size() -> None:
    assert set(BENCHES) - set(TINY) == {"floor.py"}  # started by e2e.py


def test_the_intake_bench_reads_a_graph_mailbox() -> None:
    binary("temporal")
    out = bench("intake.py", "--messages", "10", "--provider", "graph")
    assert "graph: ingested 10 messages" in out and "duplicate runs: 0 (must be 0)" in out, out
    assert "a further poll saw 0 messages" in out, out


async def test_the_floor_worker_runs_at_the_mcs_workers_cpu_priority(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The floors compare work, not set-up: their worker lowers itself to MCS_WORKER_NICE as
    `mcs worker` does, so neither side of a ratio gets the CPU first."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    address = dev_env.client.service_client.config.target_host
    env = {**os.environ, "MCS_WORKER_NICE": "6"}
    floor = spawn(
        [sys.executable, str(ROOT / "bench" / "floor.py"), "--address", address],
        tmp_path / "floor.log", env,
    )  # fmt: skip
    try:
        for _ in range(200):  # it lowers itself as it starts
            if floor.poll() is None and set(thread_nices(floor.pid)) == {min(ours + 6, 19)}:
                break
            await asyncio.sleep(0.05)
        assert floor.poll() is None, (tmp_path / "floor.log").read_text()[-2000:]
        assert set(thread_nices(floor.pid)) == {min(ours + 6, 19)}
    finally:
        stop_process(floor)


def test_the_ceiling_counts_only_what_an_mcs_burst_needs_beside_its_runs() -> None:
    """Intake, the simulators and the bench's extra submissions are added to the floor's CPU;
    MCS's worker and server are not (they are what the ceiling assumes no dearer than the floor's),
    nor the intake-only API idling beside the burst."""
    from bench.e2e import cpu_ceiling

    mcs = {
        "temporal": 9.0, "worker": 8.0, "api": 1.0, "dify": 0.6, "erp": 0.2, "smtp": 0.2,
        "intake-only api": 0.1, "bench": 0.6,
    }  # fmt: skip
    floor = {"temporal": 8.0, "floor": 4.5, "bench": 0.3}
    assert cpu_ceiling(mcs, floor) == pytest.approx(12.8 / (12.8 + 2.0 + 0.3))
    assert cpu_ceiling({**mcs, "worker": 80.0, "temporal": 90.0}, floor) == cpu_ceiling(mcs, floor)
    assert cpu_ceiling({**mcs, "bench": 0.1}, floor) == pytest.approx(12.8 / 14.8)
