"""The `mcs` command: run the stack, submit emails, list runs, decide reviews."""

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import httpx

from settings import Settings, get_settings


def _client(settings: Settings) -> httpx.Client:
    key = settings.api_keys[0] if settings.api_keys else ""
    return httpx.Client(base_url=settings.api_url, headers={"X-API-Key": key}, timeout=60)


def _answer(response: httpx.Response) -> Any:
    if response.is_error:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise SystemExit(f"mcs: HTTP {response.status_code}: {detail}")
    return response.json()


def submit(settings: Settings, path: Path) -> None:
    """Submit a .eml (raw message) or a .json (EmailEvent) file."""
    if not path.is_file():
        raise SystemExit(f"mcs: no such file: {path}")
    data = path.read_bytes()
    with _client(settings) as http:
        if path.suffix.lower() == ".json":
            response = http.post(
                "/v1/orchestrations/sales-email/run",
                content=data,
                headers={"Content-Type": "application/json"},
            )
        else:
            response = http.post(
                "/v1/emails", content=data, headers={"Content-Type": "message/rfc822"}
            )
    print(json.dumps(_answer(response), indent=2))


def runs(settings: Settings, status: str | None, customer_id: str | None, limit: int) -> None:
    params = {
        k: v for k, v in {"status": status, "customer_id": customer_id, "limit": limit}.items() if v
    }
    with _client(settings) as http:
        rows = _answer(http.get("/v1/orchestrations/sales-email/runs", params=params))
    for row in rows:
        customer = row["customer_id"] or "-"
        print(f"{row['workflow_id']}  {row['status']:<22} {row['step']:<24} {customer}")
    print(f"{len(rows)} runs")


def review(settings: Settings, args: argparse.Namespace) -> None:
    body = {
        "decision": args.decision,
        "reviewer": args.reviewer,
        "customer_id": args.customer_id,
        "comment": args.comment,
    }
    with _client(settings) as http:
        answer = _answer(
            http.post(f"/v1/orchestrations/sales-email/runs/{args.workflow_id}/review", json=body)
        )
    print(json.dumps(answer, indent=2))


def masterdata(settings: Settings, args: argparse.Namespace) -> None:
    """Import a JSON or CSV file through the API, or export everything as JSON."""
    from models.masterdata import MasterdataSet
    from models.masterdata_store import MasterdataError, from_csv

    with _client(settings) as http:
        if args.action == "export":
            text = json.dumps(_answer(http.get("/v1/masterdata/all")), ensure_ascii=False, indent=2)
            if args.file:
                args.file.write_text(text + "\n", encoding="utf-8")
            else:
                print(text)
            return
        if args.file is None or not args.file.is_file():
            raise SystemExit(f"mcs: no such file: {args.file}")
        text = args.file.read_text(encoding="utf-8-sig")
        try:
            is_csv = args.file.suffix.lower() == ".csv"
            data = from_csv(text) if is_csv else MasterdataSet.model_validate_json(text)
        except (MasterdataError, ValueError) as error:
            raise SystemExit(f"mcs: {args.file}: {error}") from error
        mode = "replace" if args.replace else "upsert"
        body = data.model_dump(mode="json")
        report = _answer(http.put("/v1/masterdata/bulk", json=body, params={"mode": mode}))
    for kind, change in report["changes"].items():
        counts = {k: len(v) if isinstance(v, list) else v for k, v in change.items()}
        print(f"{kind:<10} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"masterdata version {report['version']}")


def sandbox(settings: Settings, system: str, port: int) -> None:
    """Run one simulator in the foreground (for `docker compose` and the end-to-end tests)."""
    import uvicorn

    from sandbox import dify, erp
    from sandbox.smtp import start_sink

    if system == "smtp":
        controller, _ = start_sink("127.0.0.1", port, settings.data_dir / "mail")
        try:
            asyncio.run(asyncio.Event().wait())
        finally:
            controller.stop()
        return
    app = (
        dify.create_app(settings.dify_contract_app_key, settings.dify_order_app_key)
        if system == "dify"
        else erp.create_app(settings.erp_api_key, settings.data_dir / erp.ORDER_BOOK)
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def check_schema(settings: Settings) -> None:
    """Refuse to start on a database that `mcs db upgrade` has not brought up to date."""
    from models.db import make_engine
    from models.migrate import SchemaOutdated, ensure_migrated

    engine = make_engine(settings.db_url)
    try:
        ensure_migrated(engine)
    except SchemaOutdated as error:
        raise SystemExit(f"mcs: {error}") from error
    finally:
        engine.dispose()


def _redacted(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcs", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run the whole embedded stack")
    dev.add_argument("--demo", action="store_true", help="submit one sample email per outcome")
    commands.add_parser("worker", help="run a Temporal worker")
    commands.add_parser("api", help="run the HTTP API")
    sub = commands.add_parser("submit", help="submit an email (.eml or .json)")
    sub.add_argument("file", type=Path)
    listing = commands.add_parser("runs", help="list runs")
    listing.add_argument("--status")
    listing.add_argument("--customer-id")
    listing.add_argument("--limit", type=int, default=50)
    decide = commands.add_parser("review", help="approve or reject a run waiting for review")
    decide.add_argument("workflow_id")
    decide.add_argument("decision", choices=["approve", "reject"])
    decide.add_argument("--customer-id")
    decide.add_argument("--reviewer", default="cli")
    decide.add_argument("--comment")
    data = commands.add_parser("masterdata", help="import or export masterdata")
    data.add_argument("action", choices=["import", "export"])
    data.add_argument("file", type=Path, nargs="?", help=".json or .csv (export: optional)")
    data.add_argument("--replace", action="store_true", help="delete what the file lacks")
    schedules = commands.add_parser("schedules", help="mailbox poll schedules")
    schedules.add_argument("action", choices=["sync"])
    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    sim = commands.add_parser("sandbox", help="run one simulator")
    sim.add_argument("system", choices=["dify", "erp", "smtp"])
    sim.add_argument("--port", type=int, required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `mcs` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "mail.log", "temporalio.activity", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = get_settings()
    if args.command == "dev":
        from devstack import Say, run_dev
        from worker import run_async

        try:
            run_async(run_dev(settings, args.demo, Say(print)))
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    elif args.command == "worker":
        from worker import run_async, run_worker

        check_schema(settings)
        try:
            run_async(run_worker(settings))
        except RuntimeError as error:
            raise SystemExit(f"mcs: worker stopped: {error}") from error
    elif args.command == "api":
        import uvicorn

        from api.main import create_app

        check_schema(settings)
        uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port)
    elif args.command == "masterdata":
        masterdata(settings, args)
    elif args.command == "schedules":
        from worker import connect
        from workflows.schedules import sync_schedules

        async def sync() -> dict[str, str]:
            return await sync_schedules(await connect(settings), settings)

        changes = asyncio.run(sync())
        for schedule_id, change in changes.items():
            print(f"{schedule_id}: {change}")
        print(f"{len(settings.mailboxes)} mailboxes configured")
    elif args.command == "db":
        from models.migrate import upgrade

        upgrade(settings.db_url)
        print(f"database {_redacted(settings.db_url)} is at the newest schema")
    elif args.command == "submit":
        submit(settings, args.file)
    elif args.command == "runs":
        runs(settings, args.status, args.customer_id, args.limit)
    elif args.command == "review":
        review(settings, args)
    else:
        sandbox(settings, args.system, args.port)


if __name__ == "__main__":
    main()
