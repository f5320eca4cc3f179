"""Customer matching and masterdata import at 50,000 customers.

Prints the index build time, p50/p99 of one match with a warm index (target p99 < 10 ms) and how
often the right customer came first, and the time to bulk-import the customers (JSON document
validated, then one all-or-nothing transaction) on SQLite and on PostgreSQL (target < 10 s each).
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.index import CustomerIndex  # noqa: E402
from models import masterdata_store as store  # noqa: E402
from models.db import make_engine  # noqa: E402
from models.masterdata import Customer, CustomerBase, MasterdataSet  # noqa: E402
from models.migrate import upgrade  # noqa: E402

CITIES = ["上海", "北京", "深圳", "广州", "杭州", "南京", "苏州", "成都", "武汉", "天津", "宁波"]
WORDS = "华东机械远航科技明亮电子新材料智能制造精密仪器贸易物流医药化工食品服装纺织汽车零部件"
WORDS += "建筑工程信息网络软件能源环保光电通信半导体家居文化传媒海洋重工轻纺"
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司", "有限责任公司"]


def customers(count: int, rng: random.Random) -> list[CustomerBase]:
    rows = []
    for i in range(count):
        core = "".join(rng.choice(WORDS) for _ in range(rng.randint(4, 6)))
        rows.append(
            CustomerBase(
                customer_id=f"C{i:06d}",
                customer_num=f"K-{i:06d}",
                name=f"{rng.choice(CITIES)}{core}{rng.choice(SUFFIXES)}",
                aliases=[core],
            )
        )
    return rows


def file_name(customer: CustomerBase, rng: random.Random) -> str:
    alias = customer.aliases[0]
    return rng.choice(
        [
            f"采购合同_{alias}_2026-11-{rng.randint(1, 28):02d}.pdf",
            f"{alias}采购合同(终版).pdf",
            f"合同-{customer.name}-v{rng.randint(1, 4)}.PDF",
        ]
    )


def bench_matching(rows: list[CustomerBase], queries: int, rng: random.Random) -> None:
    started = time.perf_counter()
    index = CustomerIndex(Customer.model_validate(row) for row in rows)
    print(f"index build, {len(rows)} customers: {time.perf_counter() - started:.2f} s")
    picks = [rng.choice(rows) for _ in range(queries)]
    names = [file_name(c, rng) for c in picks]
    index.match(names[0])
    timings, right = [], 0
    for customer, name in zip(picks, names, strict=True):
        started = time.perf_counter()
        found = index.match(name)
        timings.append((time.perf_counter() - started) * 1000)
        right += bool(found) and found[0].customer_id == customer.customer_id
    timings.sort()
    p99 = timings[int(0.99 * (len(timings) - 1))]
    p50 = statistics.median(timings)
    print(f"match, warm index, {queries} file names: p50 {p50:.2f} ms   p99 {p99:.2f} ms "
          f"(target < 10 ms)   right customer first {right / queries:.1%}")  # fmt: skip


def bench_import(url: str, label: str, rows: list[CustomerBase]) -> None:
    upgrade(url)
    document = MasterdataSet(customers=rows).model_dump_json()
    engine = make_engine(url)
    started = time.perf_counter()
    data = MasterdataSet.model_validate_json(document)
    with Session(engine) as session:
        report = store.apply(session, data)
    seconds = time.perf_counter() - started
    created = len(report.changes["customers"].created)
    print(f"bulk import on {label}: {created} customers in {seconds:.2f} s (target < 10 s)")
    engine.dispose()


def main(count: int, queries: int) -> None:
    rng = random.Random(42)
    rows = customers(count, rng)
    bench_matching(rows, queries, rng)
    with tempfile.TemporaryDirectory() as directory:
        bench_import(f"sqlite:///{directory}/bench.db", "SQLite", rows)
    from sandbox.postgres import create_database, postgres_server

    with postgres_server() as server:
        bench_import(create_database(server, "bench"), "PostgreSQL", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    main(args.customers, args.queries)
