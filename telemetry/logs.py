"""Log lines: JSON for log pipelines (the default of `mcs api` and `mcs worker`) or text for
humans (the default of `mcs dev`), each carrying the run it belongs to and redacted whole.

Every line names its `workflow_id`, `run_id`, `step`, `message_id` and `request_id` where they
are known: the first three from the Temporal activity or workflow the line is written in, the
last two from context variables the API and the activity interceptor set.
"""

import logging
import sys
from contextvars import ContextVar
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from telemetry.redact import redact

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")
MESSAGE_ID: ContextVar[str] = ContextVar("message_id", default="")
CONTEXT = ("workflow_id", "run_id", "step", "message_id", "request_id")
QUIET = ("httpx", "mail.log", "alembic")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LogFormat = Literal["json", "text"]


class RunContext(logging.Filter):
    """Adds the context fields to every record, and makes the SDK's report of a failed activity
    one line when the failure is an expected business outcome: every ApplicationError we raise
    (an ERP 4xx, a non-JSON Dify answer) is typed and audited; only other exceptions, which are
    bugs or surprises, keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = {"message_id": MESSAGE_ID.get(), "request_id": REQUEST_ID.get()}
        if activity.in_activity():
            info = activity.info()
            fields |= {
                "workflow_id": info.workflow_id or "",
                "run_id": info.workflow_run_id or "",
                "step": info.activity_type,
            }
        elif workflow.in_workflow():
            run = workflow.info()
            fields |= {"workflow_id": run.workflow_id, "run_id": run.run_id}
        for name in CONTEXT:
            if not getattr(record, name, ""):
                setattr(record, name, fields.get(name, ""))
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ApplicationError):
            record.msg = f"{record.getMessage()}: {error.type}: {error.message}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


class Redacting(logging.Formatter):
    """Formats with `inner`, then redacts the whole line, traceback included."""

    def __init__(self, inner: logging.Formatter, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record), self._secrets)


class TextWithContext(logging.Formatter):
    """The text format, with the known context fields appended in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = " ".join(f"{n}={getattr(record, n)}" for n in CONTEXT if getattr(record, n, ""))
        if not known:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{known}]{newline}{rest}"


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of `log_format`, before redaction."""
    if log_format == "text":
        return TextWithContext(TEXT)
    return JsonFormatter(
        ["asctime", "levelname", "name", "message", *CONTEXT],
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def handler(
    log_format: LogFormat, secrets: tuple[str, ...] = (), stream: TextIO = sys.stderr
) -> logging.Handler:
    """A handler writing to `stream` in `log_format`, with context, redacted."""
    writer = logging.StreamHandler(stream)
    writer.setFormatter(Redacting(formatter(log_format), tuple(s for s in secrets if s)))
    writer.addFilter(RunContext())
    return writer


def configure(
    log_format: LogFormat, secrets: tuple[str, ...] = (), level: int = logging.INFO
) -> None:
    """The root logger writes through one stderr `handler`; uvicorn's loggers write through it
    too (they have handlers of their own otherwise)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(log_format, secrets))
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        uvicorn = logging.getLogger(name)
        uvicorn.handlers.clear()
        uvicorn.propagate = True
