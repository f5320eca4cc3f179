"""LangSmith tracing of the Dify and ERP calls: one trace per run, a span per call, inputs and
outputs redacted. On only when LANGSMITH_TRACING is true and LANGSMITH_API_KEY is set
(LANGSMITH_ENDPOINT and LANGSMITH_PROJECT as the SDK reads them).

The trace's id is derived from the workflow id and run id, so every worker that runs a step of
the run adds its span to the same trace. The root span starts when the workflow execution
started (asked of Temporal once per run and process) and is ended by the run's last step.
A tracing failure is logged and never fails a step.
"""

import asyncio
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from langsmith import Client, RunTree
from temporalio import activity

from telemetry.redact import redact

log = logging.getLogger(__name__)
TRACE_NAMESPACE = uuid.UUID("6f1d7b8e-2f44-4c1a-9a63-52d3c1c0e6a1")
ROOTS_KEPT = 1024  # runs whose root span this process knows (most recent first)


def redact_tree(value: Any) -> Any:
    """`value` with every string in it redacted (dicts and lists walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(item) for item in value]
    return value


def trace_id(workflow_id: str, run_id: str) -> uuid.UUID:
    """The trace of one run: the same in every process."""
    return uuid.uuid5(TRACE_NAMESPACE, f"{workflow_id}/{run_id}")


class Span:
    """What a traced call reports: its outputs (redacted on the way out)."""

    def __init__(self) -> None:
        self.outputs: dict[str, Any] = {}


class Tracer:
    """Spans for the remote calls of a run; does nothing when tracing is off."""

    def __init__(self, client: Client | None, project: str = "mcs") -> None:
        self._client = client
        self._project = project
        self._roots: OrderedDict[uuid.UUID, str] = OrderedDict()  # trace id -> dotted order

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Tracer":
        """On when LANGSMITH_TRACING is true and LANGSMITH_API_KEY is set."""
        on = env.get("LANGSMITH_TRACING", "").strip().lower() in ("1", "true", "yes")
        key = env.get("LANGSMITH_API_KEY", "")
        if not (on and key):
            return cls(None)
        client = Client(
            api_url=env.get("LANGSMITH_ENDPOINT") or None,
            api_key=key,
            auto_batch_tracing=False,
            hide_inputs=redact_tree,
            hide_outputs=redact_tree,
        )
        return cls(client, env.get("LANGSMITH_PROJECT") or "mcs")

    @property
    def on(self) -> bool:
        return self._client is not None

    @asynccontextmanager
    async def span(self, name: str, run_type: str, inputs: dict[str, Any]) -> AsyncIterator[Span]:
        """A span of the current activity's run around a call."""
        span = Span()
        if self._client is None:
            yield span
            return
        info = activity.info()
        root = await self._root(info.workflow_id or "", info.workflow_run_id or "")
        run = RunTree(
            name=name,
            run_type=run_type,
            inputs=inputs,
            client=self._client,
            project_name=self._project,
            trace_id=root[0],
            parent_run_id=root[0],
            parent_dotted_order=root[1],
            extra={"metadata": {"step": info.activity_type, "attempt": info.attempt}},
        )
        await self._send(run.post)
        try:
            yield span
        except BaseException as error:
            run.end(error=redact(f"{type(error).__name__}: {error}"))
            await self._send(run.patch)
            raise
        run.end(outputs=span.outputs)
        await self._send(run.patch)

    def finish(self, workflow_id: str, run_id: str, status: str) -> None:
        """End the run's root span (called by the run's last step; blocking)."""
        if self._client is None:
            return
        try:
            root = trace_id(workflow_id, run_id)
            self._client.update_run(root, end_time=datetime.now(UTC), outputs={"status": status})
        except Exception as error:
            log.warning("tracing: ending the run's trace failed: %s", error)

    async def _root(self, workflow_id: str, run_id: str) -> tuple[uuid.UUID, str]:
        """The run's root span, started at the execution's start (posted once per process; a
        second post by another process is refused by LangSmith, which is harmless)."""
        root_id = trace_id(workflow_id, run_id)
        if root_id in self._roots:
            self._roots.move_to_end(root_id)
            return root_id, self._roots[root_id]
        handle = activity.client().get_workflow_handle(workflow_id, run_id=run_id)
        started = (await handle.describe()).start_time
        root = RunTree(
            id=root_id,
            name="sales-email",
            run_type="chain",
            inputs={"workflow_id": workflow_id, "run_id": run_id},
            start_time=started,
            client=self._client,
            project_name=self._project,
            trace_id=root_id,
        )
        await self._send(root.post)
        self._roots[root_id] = root.dotted_order
        while len(self._roots) > ROOTS_KEPT:
            self._roots.popitem(last=False)
        return root_id, root.dotted_order

    async def _send(self, call: Callable[[], object]) -> None:
        try:
            await asyncio.to_thread(call)  # the SDK's client is blocking
        except Exception as error:
            log.warning("tracing: sending a span failed: %s", error)
