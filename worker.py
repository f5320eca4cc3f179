"""Builds the clients, registers the workflow and its activities, and runs the worker."""

import asyncio
import concurrent.futures
import logging
import os
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import prometheus_client
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities._transport import AiohttpTransport
from activities.dify import DifyActivities
from activities.erp import ErpActivities
from activities.files import FileActivities
from activities.mailbox import MailboxActivities
from activities.masterdata import MasterdataActivities
from activities.matching import MatchingActivities
from activities.notify import NotifyActivities
from activities.orders import OrderActivities
from activities.retention import RetentionActivities
from activities.runs import RunActivities
from mail.ingest import Ingester
from matching.snapshot import MasterdataCache
from models.db import make_engine
from models.migrate import ensure_migrated
from settings import Settings
from telemetry import heap
from telemetry.audit import AuditInterceptor, AuditWriter
from telemetry.tracing import Tracer
from temporal_client import blocking_starter, connect, metrics_runtime, sync_schedules
from workflows.blob_retention import BlobRetentionWorkflow
from workflows.mailbox_poll import MailboxPollWorkflow
from workflows.sales_email import SalesEmailWorkflow

log = logging.getLogger(__name__)
MAX_ACTIVITY_THREADS = 32  # the sync steps' threads (local steps, the mailbox poll, purges)
# Activity slots: the remote steps (Dify, the ERP) are async and hold no thread. With slots
# free, the server hands a remote step to this worker eagerly, in its answer to the workflow
# task; with 32 slots, a burst took a third of them through the task queue instead (three more
# calls to the server each: add, poll, started).
MAX_ACTIVITIES = 200


def runner(settings: Settings) -> WorkflowRunner:
    """The sandbox in tests and on request; without it the worker needs ~30% less CPU per run.

    Determinism is still checked by the sandbox in CI: the replay tests and the workflow tests
    run the workflow sandboxed (MCS_WORKFLOW_SANDBOX=true).
    """
    return SandboxedWorkflowRunner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


@asynccontextmanager
async def build_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A worker with every activity wired to real clients; closes them on exit."""
    engine = make_engine(settings.db_url, settings.database_pool_size)
    ensure_migrated(engine)
    cache = MasterdataCache(engine)
    executor = concurrent.futures.ThreadPoolExecutor(MAX_ACTIVITY_THREADS)
    store = settings.blobs()
    start = blocking_starter(client, asyncio.get_running_loop(), settings.task_queue)
    ingester = Ingester(engine, store, start, settings)
    audit = AuditWriter(engine)
    tracer = Tracer.from_env()
    # httpx's API over aiohttp's pool (a fifth of the CPU per call), every connection kept alive
    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        runs = RunActivities(engine, tracer)
        masterdata = MasterdataActivities(cache, settings)
        matching = MatchingActivities(cache, settings)
        orders = OrderActivities(cache, engine, settings)
        files = FileActivities(store, settings)
        dify = DifyActivities(http, settings, tracer)
        erp = ErpActivities(http, settings, tracer)
        notify = NotifyActivities(settings, engine)
        activities: list[Callable[..., Any]] = [
            runs.check_idempotency, masterdata.load_masterdata, masterdata.match_contact,
            masterdata.learn_from_review,
            matching.detect_contract_signal, matching.match_customer, files.upload_pdf,
            dify.call_dify_contract, dify.call_dify_order_payload, orders.review_order,
            erp.call_erp_gateway, notify.notify_sales, runs.finalize,
            MailboxActivities(settings, ingester).poll_mailbox,
            RetentionActivities(engine, store).purge_blobs,
        ]  # fmt: skip
        with warnings.catch_warnings():
            # the SDK warns when the slots outnumber the threads: ours are for the sync steps,
            # and the remote steps that take most slots are async
            warnings.filterwarnings("ignore", "Worker max_concurrent_activities", UserWarning)
            worker = Worker(
                client,
                task_queue=settings.task_queue,
                workflows=[SalesEmailWorkflow, MailboxPollWorkflow, BlobRetentionWorkflow],
                activities=activities,
                activity_executor=executor,
                max_concurrent_activities=MAX_ACTIVITIES,
                interceptors=[AuditInterceptor(audit)],
                workflow_runner=runner(settings),
            )
        yield worker
    executor.shutdown(wait=False)
    audit.close()
    engine.dispose()


T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop where it is installed (about a third less worker CPU), else asyncio."""
    try:
        import uvloop
    except ImportError:  # Windows has no uvloop
        return asyncio.run(main)
    return uvloop.run(main)


def serve_metrics(settings: Settings) -> Runtime | None:
    """Serve our metrics on MCS_WORKER_METRICS_PORT and the SDK's on the port after it (the
    runtime to connect with). A port in use is logged: the worker runs on without them."""
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    try:
        prometheus_client.start_http_server(port, addr=host)
    except OSError as error:
        log.error("worker metrics are not served on %s:%d: %s", host, port, error)
    try:  # the SDK's exporter says "Address already in use" as a ValueError
        runtime = metrics_runtime(host, port + 1)
    except (OSError, RuntimeError, ValueError) as error:
        log.error("Temporal SDK metrics are not served on %s:%d: %s", host, port + 1, error)
        return None
    log.info("worker metrics on http://%s:%d/metrics (Temporal SDK: port %d)", host, port, port + 1)
    return runtime


def lower_priority(settings: Settings) -> None:
    """Run this process at the CPU priority of MCS_WORKER_NICE (the API beside it answers
    first)."""
    if settings.worker_nice:
        os.nice(settings.worker_nice)


async def run_worker(settings: Settings) -> None:
    """Serve the metrics, connect and run until cancelled (at the CPU priority of
    MCS_WORKER_NICE)."""
    lower_priority(settings)
    client = await connect(settings, serve_metrics(settings))
    for schedule_id, change in (await sync_schedules(client, settings)).items():
        log.info("schedule %s %s", schedule_id, change)
    async with build_worker(client, settings) as worker:
        heap.settle()
        log.info(
            "worker polling task queue %s at %s", settings.task_queue, settings.temporal_address
        )
        await worker.run()


if __name__ == "__main__":
    from settings import get_settings
    from telemetry import logs

    settings = get_settings()
    logs.configure(settings.log_format or "json", settings.secrets)
    run_async(run_worker(settings))
