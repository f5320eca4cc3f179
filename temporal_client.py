"""Temporal from the client side, for the API, the CLI and the worker: connecting, starting the run
of an email (one workflow per Message-ID, never two), and the mailbox Schedules."""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from models import run_contract as contract
from models.codec import data_converter
from models.email import EmailEvent, workflow_id_for
from models.ingest import PollInput, StartRefused
from models.results import PurgeInput
from models.runs import RunStatus, RunView, SubmitAnswer
from settings import MailboxConfig, Settings

START_TIMEOUT = 60.0
# A start Temporal refuses with these is refused for good (an input too large or invalid);
# anything else (unavailable, deadline exceeded, ...) may work later.
REFUSED_FOR_GOOD = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.OUT_OF_RANGE,
}


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A Temporal client with the pydantic data converter (encrypted with MCS_PAYLOAD_KEY), over
    TLS or mTLS and with an API key as the settings say; `runtime`: the SDK runtime (a worker's
    exports the SDK's own metrics)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.payload_key),
        runtime=runtime,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key or None,
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS to Temporal: on when asked for, or implied by a CA, a client certificate or an API
    key; the files are read here (a missing one is a clear error, not a handshake failure)."""
    files = (settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key)
    if not (settings.temporal_tls or settings.temporal_api_key or any(files)):
        return False
    if bool(settings.temporal_tls_cert) != bool(settings.temporal_tls_key):
        raise ValueError("MCS_TEMPORAL_TLS_CERT and MCS_TEMPORAL_TLS_KEY go together (mTLS)")
    ca, cert, key = (Path(f).read_bytes() if f else None for f in files)
    return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key)


def metrics_runtime(host: str, port: int) -> Runtime:
    """An SDK runtime serving the Temporal SDK's worker metrics for Prometheus on host:port."""
    address = f"{host}:{port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def start_run(client: Client, event: EmailEvent, task_queue: str) -> SubmitAnswer:
    """Start the email's workflow; a second submission attaches to the first run."""
    workflow_id = workflow_id_for(event.message_id)
    try:
        handle = await client.start_workflow(
            contract.WORKFLOW,
            event,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            result_type=RunView,
        )
    except WorkflowAlreadyStartedError:
        return await describe_duplicate(client, workflow_id)
    except RPCError as error:
        if error.status in REFUSED_FOR_GOOD:
            raise StartRefused(f"{error.status.name if error.status else ''}: {error}") from error
        raise
    run_id = handle.result_run_id or ""
    return SubmitAnswer(
        workflow_id=workflow_id, run_id=run_id, status=RunStatus.RUNNING, duplicate=False
    )


async def describe_duplicate(client: Client, workflow_id: str) -> SubmitAnswer:
    """The answer for an email whose run exists already."""
    description = await client.get_workflow_handle(workflow_id).describe()
    status = description.typed_search_attributes.get(contract.STATUS)
    if status is None:
        running = description.status == WorkflowExecutionStatus.RUNNING
        status = RunStatus.RUNNING if running else RunStatus.FAILED
    return SubmitAnswer(
        workflow_id=workflow_id, run_id=description.run_id, status=RunStatus(status), duplicate=True
    )


def run_handle(client: Client, workflow_id: str) -> WorkflowHandle[Any, RunView]:
    """The handle of an email's run, by its workflow id."""
    return client.get_workflow_handle(workflow_id, result_type=RunView)


async def accepted_result(client: Client, workflow_id: str, seconds: float = 60) -> RunView:
    """The result of a run accepted over HTTP (its start may still be queued in the outbox)."""
    handle = run_handle(client, workflow_id)
    for _ in range(int(seconds * 10)):
        try:
            return await handle.result()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the run {workflow_id} did not start within {seconds} s")


def blocking_starter(
    client: Client, loop: asyncio.AbstractEventLoop, task_queue: str
) -> Callable[[EmailEvent], SubmitAnswer]:
    """`start_run` for a thread (the mailbox poll's): runs on `loop`, waits up to a minute."""

    def start(event: EmailEvent) -> SubmitAnswer:
        future = asyncio.run_coroutine_threadsafe(start_run(client, event, task_queue), loop)
        return future.result(timeout=START_TIMEOUT)

    return start


PREFIX = "mailbox-poll-"


def schedule_for(mailbox: MailboxConfig, task_queue: str) -> Schedule:
    """Poll every `poll_seconds`, skipping a tick while the previous poll still runs."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            contract.MAILBOX_POLL_WORKFLOW,
            PollInput(mailbox=mailbox.name),
            id=f"{PREFIX}{mailbox.name}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=mailbox.poll_seconds))]
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=5)
        ),
        state=ScheduleState(note=f"poll {mailbox.address}"),
    )


def retention_id(settings: Settings) -> str:
    """The retention schedule of this installation (its task queue: one per installation)."""
    return f"blob-retention-{settings.task_queue}"


def retention_schedule(settings: Settings) -> Schedule:
    """Once a day, remove the files of runs finished longer ago than MCS_BLOB_RETENTION."""
    retention = PurgeInput(retention_seconds=settings.blob_retention.total_seconds())
    return Schedule(
        action=ScheduleActionStartWorkflow(
            contract.BLOB_RETENTION_WORKFLOW,
            retention,
            id=retention_id(settings),
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=f"remove files of runs finished over {settings.blob_retention}"),
    )


async def sync_schedules(client: Client, settings: Settings) -> dict[str, str]:
    """Create, update (keeping a pause) or delete the mailbox schedules and the blob retention's
    (none when MCS_BLOB_RETENTION is 0); what happened to each."""
    wanted = {f"{PREFIX}{m.name}": schedule_for(m, settings.task_queue) for m in settings.mailboxes}
    if settings.blob_retention.total_seconds() > 0:
        wanted[retention_id(settings)] = retention_schedule(settings)
    done: dict[str, str] = {}
    for schedule_id, schedule in wanted.items():
        done[schedule_id] = await _synced(client, schedule_id, schedule)
    async for listed in await client.list_schedules():
        ours = listed.id.startswith(PREFIX) or listed.id == retention_id(settings)
        if ours and listed.id not in wanted:
            await client.get_schedule_handle(listed.id).delete()
            done[listed.id] = "deleted"
    return done


async def _synced(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Update the schedule, or create it; when another process (a second worker starting at
    the same time) created it in between, update that one."""
    for _attempt in range(3):
        try:
            await client.get_schedule_handle(schedule_id).update(_keep_state(schedule))
            return "updated"
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        try:
            await client.create_schedule(schedule_id, schedule)
            return "created"
        except ScheduleAlreadyRunningError:
            continue  # created by another process just now: update it
    raise RuntimeError(f"schedule {schedule_id} could not be created or updated")


def _keep_state(
    schedule: Schedule,
) -> Callable[[ScheduleUpdateInput], Awaitable[ScheduleUpdate | None]]:
    async def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        paused = current.description.schedule.state.paused
        state = dataclasses.replace(schedule.state, paused=paused)
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=state))

    return update
