"""Two revisions of MCS side by side on one Temporal server: each process's CPU per email.

Runs of bench/e2e.py one after the other differ by a sixth on a shared VM, whose speed drifts
from one minute to the next: a change smaller than that cannot be told from them. Here each side
(`mcs worker` and `mcs api` of one revision, with a data directory, database and task queue of
its own) takes its bursts in turn with the other, on the same server and simulators, so both see
the same drift. The figures are each round's quotient of head over base (worker CPU per email,
every process's CPU per email, emails/s) and their median; --base and --head naming the same
revision show this machine's noise.

--base REV: a git revision of this repository, checked out into a temporary worktree.
--head REV: likewise; without it, this working tree as it is (changes not committed included).
"""

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.e2e import (  # noqa: E402
    Processes,
    bench_client,
    cpu_between,
    cpu_seconds,
    e2e_throughput,
    stack,
    watched,
)
from devstack import free_port, spawn, stop_process, temporal_server, wait_for_port  # noqa: E402
from models.codec import PLAIN_CONVERTER  # noqa: E402
from settings import Settings  # noqa: E402

SIDES = ("base", "head")
Round = dict[str, dict[str, float]]  # side -> figure -> value


@contextlib.contextmanager
def checked_out(revision: str | None) -> Iterator[Path]:
    """`revision` in a temporary worktree (removed afterwards); None: this working tree."""
    if revision is None:
        yield ROOT
        return
    place = Path(tempfile.mkdtemp(prefix="mcs-compare-")) / "tree"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", "--quiet", str(place), revision], check=True)
    try:
        yield place
    finally:
        subprocess.run([*git, "remove", "--force", str(place)], check=False)
        shutil.rmtree(place.parent, ignore_errors=True)


def side_env(env: dict[str, str], root: Path, tree: Path, side: str) -> dict[str, str]:
    """A side's environment: its revision's code first on the path, its own data directory,
    database, API port (its signed file URLs name it), metrics port and task queue."""
    return {
        **env,
        "PYTHONPATH": str(tree),
        "MCS_DATA_DIR": str(root / side),
        "MCS_API_PORT": str(free_port()),
        "MCS_WORKER_METRICS_PORT": str(free_port()),
        "MCS_TASK_QUEUE": f"compare-{side}",
    }


def load_masterdata(env: dict[str, str]) -> None:
    """The demo masterdata, by the side's own code (its migrations are the ones its worker
    expects)."""
    code = "from devstack import load_demo_masterdata; from settings import Settings\n"
    code += "load_demo_masterdata(Settings())"
    Path(env["MCS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=env["PYTHONPATH"])


async def burst(
    api: httpx.AsyncClient, client: Client, count: int, everyone: Processes, side: str
) -> dict[str, float]:
    """One side's burst: emails/s and CPU milliseconds per email of its worker, its API, the
    Temporal server and every process."""
    before = cpu_seconds(everyone)
    rate = await e2e_throughput(api, client, count)
    used = cpu_between(before, cpu_seconds(everyone))
    spent = {name: seconds * 1000 / count for name, seconds in used.items()}
    return {
        "emails/s": rate,
        "worker": spent[f"worker {side}"],
        "api": spent[f"api {side}"],
        "temporal": spent["temporal"],
        "all": sum(spent.values()),
    }


def print_round(turn: int, taken: Round) -> None:
    for side in SIDES:
        shown = "   ".join(f"{name} {value:.1f}" for name, value in taken[side].items())
        print(f"round {turn + 1} {side}: {shown}   (CPU in ms per email)")


def quotients(rounds: list[Round]) -> dict[str, float]:
    """Head over base per round, and each quotient's median over the rounds."""
    medians = {}
    named = (("emails/s", "rate_ratio"), ("worker", "worker_ratio"), ("all", "cpu_ratio"))
    for figure, key in named:
        each = [r["head"][figure] / r["base"][figure] for r in rounds]
        medians[key] = statistics.median(each)
        shown = ", ".join(f"{q:.3f}" for q in each)
        print(f"head / base, {figure}: median {medians[key]:.3f} (rounds: {shown})")
    for side in SIDES:
        for figure in ("worker", "all"):
            medians[f"{side}_{figure}_ms"] = statistics.median(r[side][figure] for r in rounds)
    return medians


async def measure(
    count: int, rounds: int, ports: dict[str, int], apis: dict[str, int], everyone: Processes
) -> dict[str, float]:
    for port in (ports["dify"], ports["erp"], ports["smtp"], *apis.values()):
        await wait_for_port(port)
    address = f"127.0.0.1:{ports['temporal']}"
    client = await Client.connect(address, data_converter=PLAIN_CONVERTER)
    async with contextlib.AsyncExitStack() as clients:
        api = {s: await clients.enter_async_context(bench_client(apis[s])) for s in SIDES}
        for side in SIDES:
            await e2e_throughput(api[side], client, 10)  # warm-up
        taken: list[Round] = []
        for turn in range(rounds):
            order = SIDES if turn % 2 == 0 else SIDES[::-1]  # neither side always goes first
            taken.append(
                {side: await burst(api[side], client, count, everyone, side) for side in order}
            )
            print_round(turn, taken[-1])
    return quotients(taken)


async def compare(trees: dict[str, Path], count: int, rounds: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="mcs-compare-stack-"))
    names = ("temporal", "ui", "api", "intake", "dify", "erp", "smtp")
    ports = {name: free_port() for name in names}
    settings = Settings(
        data_dir=root, temporal_port=ports["temporal"], temporal_ui_port=ports["ui"]
    )
    commands, env, _ = stack(root, ports, "")
    envs = {side: side_env(env, root, trees[side], side) for side in SIDES}
    for side in SIDES:
        load_masterdata(envs[side])
    started = {name: (commands[name], env) for name in ("dify", "erp", "smtp")}
    for side in SIDES:
        started |= {f"{kind} {side}": (commands[kind], envs[side]) for kind in ("worker", "api")}
    async with temporal_server(settings) as server:
        processes = {n: spawn(c, root / f"{n}.log", e) for n, (c, e) in started.items()}
        everyone = {"temporal": server, **processes}
        apis = {side: int(envs[side]["MCS_API_PORT"]) for side in SIDES}
        try:
            work = measure(count, rounds, ports, apis, everyone)
            figures = await watched(work, everyone, root)
        finally:
            for process in processes.values():
                stop_process(process)
    shutil.rmtree(root, ignore_errors=True)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--head", help="git revision (default: this working tree)")
    parser.add_argument("--emails", type=int, default=200, help="emails per burst (32 in flight)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON figures")
    args = parser.parse_args()
    with checked_out(args.base) as base, checked_out(args.head) as head:
        trees = {"base": base, "head": head}
        figures = asyncio.run(compare(trees, args.emails, max(1, args.rounds)))
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
