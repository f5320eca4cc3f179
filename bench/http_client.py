"""The remote steps' HTTP client: CPU per call with httpx's own pool and with MCS's transport.

Both post the same orders to the ERP simulator (a process of its own, as in `bench/e2e.py`), one
at a time and 16 at a time as the worker's steps do; only this process's CPU is counted, so the
figure is the client's alone. The two take turns `--rounds` times and each figure is the median:
this machine's speed drifts within a minute.
"""

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities._transport import AiohttpTransport  # noqa: E402
from devstack import free_port, spawn, stop_process, wait_for_port  # noqa: E402

CLIENTS: dict[str, Callable[[], httpx.AsyncClient]] = {
    "httpx's own pool": lambda: httpx.AsyncClient(timeout=30),
    "MCS's transport (aiohttp)": lambda: httpx.AsyncClient(
        transport=AiohttpTransport(), timeout=30
    ),
}
LINES = [{"product_code": f"P-{n:03d}", "qty": n, "unit_price": "12.50"} for n in range(1, 11)]


async def cpu_ms_per_call(make: Callable[[], httpx.AsyncClient], url: str, key: str, calls: int,
                          at_once: int) -> float:  # fmt: skip
    """The CPU milliseconds this process spends per order posted, `at_once` in flight."""
    headers = {"Authorization": f"Bearer {key}"}
    gate = asyncio.Semaphore(at_once)

    async def post(client: httpx.AsyncClient) -> None:
        order_key = uuid.uuid4().hex
        body = {"order_payload": {"customer_id": "C001", "lines": LINES},
                "audit": {"idempotency_key": order_key}}  # fmt: skip
        async with gate:
            answer = await client.post(
                url, json=body, headers={**headers, "Idempotency-Key": order_key}
            )
        assert answer.status_code < 300, answer.text
        answer.json()

    async with make() as client:
        await asyncio.gather(*(post(client) for _ in range(at_once * 2)))  # connections open
        started = time.process_time()
        await asyncio.gather(*(post(client) for _ in range(calls)))
        return (time.process_time() - started) * 1000 / calls


async def measure(url: str, key: str, calls: int, rounds: int) -> dict[str, float]:
    taken: dict[str, list[float]] = {}
    for turn in range(rounds):
        for at_once in (1, 16):
            for name, make in CLIENTS.items():
                figure = await cpu_ms_per_call(make, url, key, calls, at_once)
                taken.setdefault(f"{name}, {at_once} at once", []).append(figure)
                print(f"round {turn + 1}: {name}, {at_once} at once: {figure:.3f} ms CPU per call")
    return {name: statistics.median(figures) for name, figures in taken.items()}


def main(calls: int, rounds: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="mcs-bench-http-"))
    port, key = free_port(), f"erp-{secrets.token_hex(8)}"
    mcs = str(Path(sys.executable).parent / "mcs")
    env = {"MCS_ERP_API_KEY": key, "MCS_DATA_DIR": str(root), "PATH": str(Path(mcs).parent)}
    erp = spawn([mcs, "sandbox", "erp", "--port", str(port)], root / "erp.log", env)
    try:
        uvloop.run(wait_for_port(port, erp))
        figures = uvloop.run(measure(f"http://127.0.0.1:{port}/v1/orders", key, calls, rounds))
    finally:
        stop_process(erp)
    shutil.rmtree(root, ignore_errors=True)
    for at_once in (1, 16):
        own, ours = (figures[f"{name}, {at_once} at once"] for name in CLIENTS)
        print(f"medians, {at_once} at once: httpx's pool {own:.3f} ms, MCS's transport"
              f" {ours:.3f} ms per call ({own / ours:.1f}x less CPU)")  # fmt: skip
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="orders posted per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON figures")
    args = parser.parse_args()
    figures = main(args.calls, args.rounds)
    if args.json:
        print(json.dumps({name: round(value, 3) for name, value in figures.items()}))
