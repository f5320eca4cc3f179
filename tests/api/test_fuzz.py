"""Property-based fuzzing of every operation in our OpenAPI document: no input gets a 5xx.

Schemathesis generates requests from `/openapi.json` (valid and invalid ones) and sends them over
real HTTP to the API on the dev server; the `not_a_server_error` check fails on any 5xx.
"""

import asyncio
import os
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from models.migrate import upgrade
from sandbox.postgres import create_database
from settings import Settings
from tests.helpers import free_port, serve

EXAMPLES = int(os.environ.get("MCS_FUZZ_EXAMPLES", "40"))  # per operation


def fuzz(url: str) -> list[str]:
    """Every operation, `EXAMPLES` generated requests each; the 5xx found, described."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here

        @hypothesis.settings(
            max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @hypothesis.given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            try:
                case.call_and_validate(
                    base_url=url, headers={"X-API-Key": "test-key"}, checks=[not_a_server_error]
                )
            except Exception as error:  # collect, and go on with the other operations
                failures.append(f"{case.operation.label}: {str(error)[:600]}")

        check()
    return failures


async def test_no_operation_answers_a_server_error(
    dev_settings: Settings,
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """On a database of its own (of the session's kind): the fuzzer replaces and deletes
    masterdata at will."""
    port = free_port()
    database_url = ""  # SQLite in tmp_path
    if dev_settings.database_url:
        database_url = create_database(request.getfixturevalue("postgres"), f"fuzz_{port}")
    update = {"api_port": port, "data_dir": tmp_path, "database_url": database_url}
    own = dev_settings.model_copy(update=update)
    upgrade(own.db_url)
    app = create_app(own, dev_env.client)
    async with serve(app, port) as url:
        failures = await asyncio.to_thread(fuzz, url)
    assert failures == [], "\n".join(failures)
