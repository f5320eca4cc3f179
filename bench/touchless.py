"""The touchless rate over a stream of contracts: customers write their own part numbers for our
products; the first sight of each is reviewed and corrected by a simulated reviewer, and MCS is
to learn it. Prints the rate by tenth of the stream and overall, and the wrong orders (must be 0).

Runs in one process: a time-skipping Temporal test server, the Dify, ERP and SMTP simulators,
the API (Dify fetches the contracts from it) and a worker with the real activities.
"""

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.attachments import stored_inline  # noqa: E402
from api.main import create_app  # noqa: E402
from devstack import serve, simulators  # noqa: E402
from models import masterdata_store as store  # noqa: E402
from models import run_contract as contract  # noqa: E402
from models.codec import PLAIN_CONVERTER  # noqa: E402
from models.db import make_engine  # noqa: E402
from models.masterdata import ContactBase, CustomerBase, MasterdataSet, ProductBase  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from models.runs import ReviewDecision, RunStatus, RunView  # noqa: E402
from sandbox.demo import make_email  # noqa: E402
from sandbox.pdf import Contract, Item, make_contract_pdf  # noqa: E402
from settings import Settings  # noqa: E402
from storage.blobs import BlobStore  # noqa: E402
from worker import build_worker  # noqa: E402

PRODUCTS = [f"P-{n}00" for n in range(1, 7)]
NAMES = [
    "华东",
    "远航",
    "明亮",
    "长江",
    "天山",
    "黄河",
    "珠江",
    "泰山",
    "昆仑",
    "峨眉",
    "武夷",
    "太湖",
]


def masterdata(customers: int) -> MasterdataSet:
    """`customers` customers, each with a buyer, and our products."""
    return MasterdataSet(
        customers=[CustomerBase(customer_id=f"T{i}", customer_num=f"N-{i}", name=company(i))
                   for i in range(customers)],
        contacts=[ContactBase(contact_id=f"K{i}", email=f"buyer{i}@t{i}.example",
                              customer_id=f"T{i}") for i in range(customers)],
        products=[ProductBase(product_id=code, product_code=code, name=code, unit="pcs")
                  for code in PRODUCTS],
    )  # fmt: skip


def company(i: int) -> str:
    return f"{NAMES[i % len(NAMES)]}{i}号机械有限公司"


def theirs(customer: int, product: str) -> str:
    """A customer's own code for one of our products."""
    return f"C{customer}-{product.replace('P-', 'X')}"


async def one(
    env: WorkflowEnvironment, settings: Settings, n: int, rng: random.Random, customers: int
) -> tuple[bool, int]:
    """One contract of a customer for two of our products, in the customer's codes: whether
    it reached the ERP without a review, and how many of its order lines were wrong."""
    customer = rng.randrange(customers)
    wanted = rng.sample(PRODUCTS, 2)
    items = [Item(theirs(customer, p), f"part {p}", Decimal(2), "pcs", Decimal(10)) for p in wanted]
    pdf = make_contract_pdf(Contract(f"TL-{uuid.uuid4().hex[:8]}", "x", items=items))
    name = company(customer)
    email = make_email(sender=f"buyer{customer}@t{customer}.example", pdf=pdf,
                       filename=f"采购合同_{name}.pdf")  # fmt: skip
    event = stored_inline(email, BlobStore(settings.blob_dir), settings.max_attachment_bytes)
    handle = await env.client.start_workflow(
        contract.WORKFLOW, event, id=f"tl-{n}-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue, result_type=RunView,
    )  # fmt: skip
    reviewed = False
    while True:
        try:
            state = await handle.query(
                contract.STATUS_QUERY, result_type=RunView, rpc_timeout=timedelta(seconds=2)
            )
        except RPCError:  # its first workflow task is not done yet
            await asyncio.sleep(0.05)
            continue
        if state.status != RunStatus.RUNNING:
            break
        await asyncio.sleep(0.02)
    if state.status == RunStatus.MANUAL_REVIEW and state.order_payload is not None:
        reviewed = True
        truth = {theirs(customer, p): p for p in PRODUCTS}
        lines = [
            line.model_copy(update={"product_code": truth.get(line.product_code, "?")})
            if line.product_code not in PRODUCTS
            else line
            for line in state.order_payload.lines
        ]
        fixed = state.order_payload.model_copy(update={"lines": lines})
        decision = ReviewDecision(decision="approve", reviewer="bench", order_payload=fixed)
        await handle.execute_update(contract.REVIEW_UPDATE, decision, result_type=ReviewDecision)
    result = await handle.result()
    sent = [
        line.product_code for line in (result.order_payload.lines if result.order_payload else [])
    ]
    wrong = sum(1 for got, want in zip(sent, wanted, strict=False) if got != want)
    ok = result.status == RunStatus.SUCCESS
    return ok and not reviewed, wrong + (0 if ok else len(wanted))


async def stream(count: int, customers: int, seed: int) -> tuple[list[bool], int]:
    """Run `count` contracts one after another; each one's touchlessness, and the wrong lines."""
    root = Path(tempfile.mkdtemp(prefix="mcs-touchless-"))
    settings = Settings(data_dir=root, task_queue=f"touchless-{uuid.uuid4()}", env="dev")
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        store.apply(session, masterdata(customers), replace=True)
    engine.dispose()
    server = shutil.which("temporal-test-server") or str(
        Path(sys.executable).parent / "temporal-test-server"
    )
    rng, touchless, wrong = random.Random(seed), [], 0
    async with AsyncExitStack() as stack:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=server, data_converter=PLAIN_CONVERTER
        )
        stack.push_async_callback(env.shutdown)
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for key in contract.SEARCH_ATTRIBUTES
                },
            )
        )
        settings, _ = await simulators(stack, settings)
        api = await stack.enter_async_context(serve(create_app(settings, env.client)))
        settings = settings.model_copy(update={"public_base_url": api})
        worker = await stack.enter_async_context(build_worker(env.client, settings))
        task = asyncio.create_task(worker.run())
        try:
            for n in range(count):
                made, bad = await one(env, settings, n, rng, customers)
                touchless.append(made)
                wrong += bad
        finally:
            await worker.shutdown()
            await task
    shutil.rmtree(root, ignore_errors=True)
    return touchless, wrong


def report(touchless: list[bool], wrong: int) -> None:
    tenth = max(1, len(touchless) // 10)
    for start in range(0, len(touchless), tenth):
        part = touchless[start : start + tenth]
        rate = 100 * sum(part) / len(part)
        print(f"contracts {start + 1:>4}-{start + len(part):<4} touchless {rate:5.1f}%")
    half = touchless[len(touchless) // 2 :]
    overall, late = 100 * sum(touchless) / len(touchless), 100 * sum(half) / max(1, len(half))
    print(f"overall touchless {overall:.1f}%   last half {late:.1f}% (target >= 90%)"
          f"   wrong order lines {wrong} (must be 0)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report(*asyncio.run(stream(args.contracts, args.customers, args.seed)))
