"""The `mcs` command: run the stack, submit emails, list runs, decide reviews."""

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from api.stats import stats_table
from settings import Settings, get_settings
from telemetry import logs

Command = Callable[[Settings, argparse.Namespace], None]


class CliError(Exception):
    """A failure the user can act on: printed as one line, `mcs: ...`, exit status 1."""


@contextmanager
def _api(settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of our API; an API that cannot be reached is one line, not a traceback."""
    key = settings.cli_key
    url = settings.api_url
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as http:
            yield http
    except httpx.TransportError as error:
        raise CliError(
            f"cannot reach the MCS API at {url} ({type(error).__name__}: {error or 'no answer'}); "
            "start it with `mcs dev` (or `mcs api`), or point MCS_PUBLIC_BASE_URL "
            "(or MCS_API_HOST and MCS_API_PORT) at it"
        ) from error


def _answer(response: httpx.Response) -> Any:
    if response.is_error:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise CliError(f"HTTP {response.status_code}: {detail}")
    return response.json()


def submit(settings: Settings, args: argparse.Namespace) -> None:
    """Submit a .eml (raw message) or a .json (EmailEvent) file."""
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    data = path.read_bytes()
    with _api(settings) as http:
        if path.suffix.lower() == ".json":
            route, content_type = "/v1/orchestrations/sales-email/run", "application/json"
        else:
            route, content_type = "/v1/emails", "message/rfc822"
        response = http.post(route, content=data, headers={"Content-Type": content_type})
    print(json.dumps(_answer(response), indent=2))


def runs(settings: Settings, args: argparse.Namespace) -> None:
    """List runs, newest first; `runs show ID`: one run with its audit trail as a timeline."""
    if args.action == "show":
        show_run(settings, args.workflow_id)
        return
    wanted = {"status": args.status, "customer_id": args.customer_id, "limit": args.limit}
    with _api(settings) as http:
        params = {k: v for k, v in wanted.items() if v}
        rows = _answer(http.get("/v1/orchestrations/sales-email/runs", params=params))
    for row in rows:
        customer = row["customer_id"] or "-"
        print(f"{row['workflow_id']}  {row['status']:<22} {row['step']:<24} {customer}")
    print(f"{len(rows)} runs")


def stats(settings: Settings, args: argparse.Namespace) -> None:
    """The automation figure as a table: overall, and by customer or day."""
    wanted = {"since": args.since, "until": args.until, "group_by": args.by}
    with _api(settings) as http:
        figures = _answer(http.get("/v1/stats", params={k: v for k, v in wanted.items() if v}))
    for line in stats_table(figures):
        print(line)


def show_run(settings: Settings, workflow_id: str | None) -> None:
    if not workflow_id:
        raise CliError("mcs runs show needs a workflow id (see `mcs runs`)")
    with _api(settings) as http:
        run = _answer(http.get(f"/v1/orchestrations/sales-email/runs/{workflow_id}"))
    print(f"{run['workflow_id']}  {run['status']}  step {run['step'] or '-'}")
    for key in ("message_id", "customer_id", "contract_no", "sales_order_no", "started_at"):
        if run.get(key):
            print(f"  {key:<15} {run[key]}")
    for error in run.get("errors") or []:
        print(f"  error           {error['code']} at {error['step']}: {error['message']}")
    for warning in run.get("warnings") or []:
        print(f"  warning         {warning}")
    print("  timeline:")
    for entry in run.get("audit") or []:
        at = (entry.get("at") or "")[11:23]
        failed = f"  {entry['error_code']}: {entry['detail']}" if entry["outcome"] != "ok" else ""
        print(
            f"    {at}  {entry['step']:<24} #{entry['attempt']:<2} {entry['outcome']:<5} "
            f"{entry['duration_ms']:>9.1f} ms{failed}"
        )


def review(settings: Settings, args: argparse.Namespace) -> None:
    """Approve or reject a run waiting for review (decided by the name of the CLI's key)."""
    body: dict[str, Any] = {
        "decision": args.decision,
        "customer_id": args.customer_id,
        "comment": args.comment,
    }
    if args.order_payload is not None:
        body["order_payload"] = _json_file(args.order_payload)
    route = f"/v1/orchestrations/sales-email/runs/{args.workflow_id}/review"
    with _api(settings) as http:
        answer = _answer(http.post(route, json=body))
    print(json.dumps(answer, indent=2))


def _json_file(path: Path) -> Any:
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as error:
        raise CliError(f"{path}: not JSON: {error}") from error


def masterdata(settings: Settings, args: argparse.Namespace) -> None:
    """Import a JSON or CSV file through the API, or export everything as JSON."""
    if args.action == "export":
        with _api(settings) as http:
            everything = _answer(http.get("/v1/masterdata/all"))
        text = json.dumps(everything, ensure_ascii=False, indent=2)
        if args.file:
            args.file.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
        return
    body = _masterdata_file(args.file)
    mode = "replace" if args.replace else "upsert"
    with _api(settings) as http:
        report = _answer(http.put("/v1/masterdata/bulk", json=body, params={"mode": mode}))
    for kind, change in report["changes"].items():
        counts = {k: len(v) if isinstance(v, list) else v for k, v in change.items()}
        print(f"{kind:<10} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"masterdata version {report['version']}")


def _masterdata_file(path: Path | None) -> dict[str, Any]:
    """The /bulk body of a masterdata .json or .csv file, checked before it is sent."""
    from models.masterdata import MasterdataSet
    from models.masterdata_store import MasterdataError, from_csv

    if path is None or not path.is_file():
        raise CliError(f"no such file: {path}")
    text = path.read_text(encoding="utf-8-sig")
    try:
        is_csv = path.suffix.lower() == ".csv"
        data = from_csv(text) if is_csv else MasterdataSet.model_validate_json(text)
    except (MasterdataError, ValueError) as error:
        raise CliError(f"{path}: {error}") from error
    return data.model_dump(mode="json")


def sandbox(settings: Settings, args: argparse.Namespace) -> None:
    """Run one simulator in the foreground (for `docker compose` and the end-to-end tests)."""
    import uvicorn

    from sandbox import dify, erp, graph
    from sandbox.smtp import start_sink

    if args.system == "smtp":
        controller, _ = start_sink("127.0.0.1", args.port, settings.data_dir / "mail")
        try:
            asyncio.run(asyncio.Event().wait())
        finally:
            controller.stop()
        return
    if args.system == "graph":  # client id mcs-app, secret mcs-app-secret
        sim = graph.GraphSim()
        sim.url = f"http://127.0.0.1:{args.port}"
        app = graph.create_app(sim)
    elif args.system == "dify":
        app = dify.create_app(settings.dify_contract_app_key, settings.dify_order_app_key)
    else:
        app = erp.create_app(settings.erp_api_key, settings.data_dir / erp.ORDER_BOOK)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


def dev(settings: Settings, args: argparse.Namespace) -> None:
    """The whole embedded stack until Ctrl-C."""
    from devstack import Say, run_dev
    from worker import run_async

    try:
        run_async(run_dev(settings, args.demo, Say(print)))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)


def refuse_unsafe(settings: Settings) -> None:
    """In production, refuse dev defaults and plain-text credentials, naming each."""
    if settings.production and (problems := settings.production_problems()):
        raise CliError(
            "refusing to start in production (MCS_ENV=production): " + "; ".join(problems)
        )
    from temporal_client import tls_config

    try:
        tls_config(settings)
    except (OSError, ValueError) as error:
        raise CliError(f"cannot connect to Temporal over TLS: {error}") from error


def worker(settings: Settings, args: argparse.Namespace) -> None:
    """A production worker, on a migrated database."""
    from worker import run_async, run_worker

    refuse_unsafe(settings)
    check_schema(settings)
    try:
        run_async(run_worker(settings))
    except RuntimeError as error:
        raise CliError(f"worker stopped: {error}") from error


def api(settings: Settings, args: argparse.Namespace) -> None:
    """The production API, on a migrated database."""
    import uvicorn

    from api.main import create_app
    from telemetry import heap

    refuse_unsafe(settings)
    check_schema(settings)
    app = create_app(settings)
    heap.settle()
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_config=None)


def doctor(settings: Settings, args: argparse.Namespace) -> None:
    """Probe every dependency as /v1/readyz does; exit 1 when one is down."""
    from models.db import make_engine
    from telemetry.probes import PROBE_SECONDS, Readiness, readiness
    from temporal_client import connect

    async def probe() -> Readiness:
        try:
            client = await asyncio.wait_for(connect(settings), PROBE_SECONDS)
        except (OSError, RuntimeError, TimeoutError, ValueError):
            client = None
        engine = make_engine(settings.db_url)
        try:
            return await readiness(settings, engine, client)
        finally:
            engine.dispose()

    ready = asyncio.run(probe())
    for name, check in ready.checks.items():
        latency = f"{check.latency_ms:8.1f} ms" if check.state != "off" else " " * 11
        print(f"{name:<9} {check.state:<5} {latency}  {check.detail}".rstrip())
    print(ready.status)
    if ready.status != "ready":
        raise SystemExit(1)


def schedules(settings: Settings, args: argparse.Namespace) -> None:
    """Apply MCS_MAILBOXES to the mailbox Schedules."""
    from temporal_client import connect, sync_schedules

    async def sync() -> dict[str, str]:
        try:
            client = await connect(settings)
        except RuntimeError as error:
            raise CliError(
                f"cannot reach Temporal at {settings.temporal_address} ({error}); "
                "start it with `mcs dev`, or set MCS_TEMPORAL_ADDRESS"
            ) from error
        return await sync_schedules(client, settings)

    for schedule_id, change in asyncio.run(sync()).items():
        print(f"{schedule_id}: {change}")
    print(f"{len(settings.mailboxes)} mailboxes configured")


def db(settings: Settings, args: argparse.Namespace) -> None:
    """Bring the database schema up to date."""
    from sqlalchemy.exc import OperationalError

    from models.migrate import upgrade

    try:
        upgrade(settings.db_url)
    except OperationalError as error:
        raise CliError(f"database {_redacted(settings.db_url)}: {error.orig}") from error
    print(f"database {_redacted(settings.db_url)} is at the newest schema")


def check_schema(settings: Settings) -> None:
    """Refuse to start on a database that `mcs db upgrade` has not brought up to date."""
    from models.db import make_engine
    from models.migrate import SchemaOutdated, ensure_migrated

    engine = make_engine(settings.db_url)
    try:
        ensure_migrated(engine)
    except SchemaOutdated as error:
        raise CliError(str(error)) from error
    finally:
        engine.dispose()


def _redacted(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


COMMANDS: dict[str, tuple[Command, str]] = {
    "dev": (dev, "run the whole embedded stack"),
    "worker": (worker, "run a Temporal worker"),
    "api": (api, "run the HTTP API"),
    "submit": (submit, "submit an email (.eml or .json)"),
    "runs": (runs, "list runs"),
    "stats": (stats, "the touchless rate: orders made without a person, and the rest"),
    "review": (review, "approve or reject a run waiting for review"),
    "masterdata": (masterdata, "import or export masterdata"),
    "schedules": (schedules, "mailbox poll schedules"),
    "db": (db, "database schema"),
    "doctor": (doctor, "check that the database, Temporal, Dify, the ERP and SMTP answer"),
    "sandbox": (sandbox, "run one simulator"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcs", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sub = {name: commands.add_parser(name, help=text) for name, (_, text) in COMMANDS.items()}
    sub["dev"].add_argument("--demo", action="store_true", help="one sample email per outcome")
    sub["submit"].add_argument("file", type=Path)
    sub["runs"].add_argument("action", nargs="?", choices=["show"], help="show one run")
    sub["runs"].add_argument("workflow_id", nargs="?")
    sub["runs"].add_argument("--status")
    sub["runs"].add_argument("--customer-id")
    sub["runs"].add_argument("--limit", type=int, default=50)
    sub["stats"].add_argument("--since", help="ISO date or time (runs finished from then)")
    sub["stats"].add_argument("--until", help="ISO date or time")
    sub["stats"].add_argument("--by", choices=["customer", "day"])
    sub["review"].add_argument("workflow_id")
    sub["review"].add_argument("decision", choices=["approve", "reject"])
    sub["review"].add_argument("--customer-id")
    sub["review"].add_argument("--comment")
    sub["review"].add_argument(
        "--order-payload", type=Path, help="an order review: the corrected order (.json)"
    )
    sub["masterdata"].add_argument("action", choices=["import", "export"])
    sub["masterdata"].add_argument("file", type=Path, nargs="?", help=".json or .csv")
    sub["masterdata"].add_argument("--replace", action="store_true", help="delete what it lacks")
    sub["schedules"].add_argument("action", choices=["sync"])
    sub["db"].add_argument("action", choices=["upgrade"])
    sub["sandbox"].add_argument("system", choices=["dify", "erp", "smtp", "graph"])
    sub["sandbox"].add_argument("--port", type=int, required=True)
    return parser


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"MCS_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        raise CliError(f"invalid settings: {problems}") from error


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `mcs` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings()
        if settings.env is None:
            env = "dev" if args.command == "dev" else "production"
            settings = settings.model_copy(update={"env": env})
        logs.configure(
            settings.log_format or ("text" if args.command == "dev" else "json"),
            settings.secrets,
        )
        COMMANDS[args.command][0](settings, args)
    except CliError as error:
        raise SystemExit(f"mcs: {error}") from None


if __name__ == "__main__":
    main()
