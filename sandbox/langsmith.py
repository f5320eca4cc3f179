"""A stand-in of the LangSmith run-ingestion endpoint: keeps every run posted (`POST /runs`) with
its updates (`PATCH /runs/{id}`) in memory, for tests of our tracing. It checks the API key and
refuses a second post of one run id with 409, as LangSmith does."""

from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request


class RunLog:
    """The runs received, by id, each with its post and its patches merged."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests = 0

    def traces(self) -> dict[str, list[dict[str, Any]]]:
        """The runs grouped by trace id."""
        found: dict[str, list[dict[str, Any]]] = {}
        for run in self.runs.values():
            found.setdefault(str(run.get("trace_id")), []).append(run)
        return found


def create_app(api_key: str) -> tuple[FastAPI, RunLog]:
    app = FastAPI(title="LangSmith stand-in")
    log = RunLog()

    def check(key: str | None) -> None:
        log.requests += 1
        if key != api_key:
            raise HTTPException(401, "invalid x-api-key")

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {"version": "stand-in", "batch_ingest_config": {}}

    @app.post("/runs", status_code=202)
    async def post_run(request: Request, x_api_key: str | None = Header(None)) -> dict[str, str]:
        check(x_api_key)
        run = await request.json()
        if run["id"] in log.runs:
            raise HTTPException(409, "run already exists")
        log.runs[run["id"]] = run
        return {"id": run["id"]}

    @app.patch("/runs/{run_id}")
    async def patch_run(
        run_id: str, request: Request, x_api_key: str | None = Header(None)
    ) -> dict[str, str]:
        check(x_api_key)
        changes = {key: value for key, value in (await request.json()).items() if value is not None}
        log.runs.setdefault(run_id, {"id": run_id}).update(changes)  # what is set, as LangSmith
        return {"id": run_id}

    return app, log
