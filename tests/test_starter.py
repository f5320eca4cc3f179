"""The `mcs` command against our API over real HTTP."""

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx

from settings import Settings
from tests.helpers import free_port

MCS = str(Path(sys.executable).parent / "mcs")


async def mcs(settings: Settings, *args: str, **variables: str) -> tuple[int, str]:
    env = {**os.environ, "MCS_API_PORT": str(settings.api_port), "MCS_API_KEYS": "test-key"}
    env.update(variables)
    process = await asyncio.create_subprocess_exec(
        MCS, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_masterdata_import_csv_and_export(
    settings: Settings, api_url: str, data_dir: Path
) -> None:
    csv_file = write(
        data_dir / "customers.csv",
        "customer_id,customer_num,name,aliases\n"
        "CSV1,CN-1,杭州测试有限公司,杭州测试|HZ Test\n"
        "CSV2,CN-2,Ningbo Example Ltd.,\n",
    )
    code, output = await mcs(settings, "masterdata", "import", str(csv_file))
    assert code == 0, output
    assert "customers  created 2" in output
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": "test-key"}) as api:
        row = (await api.get("/v1/masterdata/customers/CSV1")).json()
    assert row["aliases"] == ["杭州测试", "HZ Test"]
    exported = data_dir / "export.json"
    code, output = await mcs(settings, "masterdata", "export", str(exported))
    assert code == 0, output
    ids = {c["customer_id"] for c in json.loads(exported.read_text(encoding="utf-8"))["customers"]}
    assert {"CSV1", "CSV2", "C001"} <= ids


async def test_masterdata_import_errors_are_clear(
    settings: Settings, api_url: str, data_dir: Path
) -> None:
    bad_header = write(data_dir / "bad.csv", "id,name\n1,x\n")
    code, output = await mcs(settings, "masterdata", "import", str(bad_header))
    assert code != 0 and "key columns" in output
    bad_contact = write(
        data_dir / "contacts.json",
        json.dumps(
            {"contacts": [{"contact_id": "X", "email": "x@y.example", "customer_id": "NONE"}]}
        ),
    )
    code, output = await mcs(settings, "masterdata", "import", str(bad_contact))
    assert code != 0 and "HTTP 422" in output and "unknown customer" in output
    code, output = await mcs(settings, "masterdata", "import", str(data_dir / "missing.json"))
    assert code != 0 and "no such file" in output


async def test_submit_eml_and_list_runs(settings: Settings, api_url: str, data_dir: Path) -> None:
    from sandbox.demo import contract_pdf, raw_contract_email

    eml = data_dir / "cli.eml"
    eml.write_bytes(raw_contract_email(pdf=contract_pdf("HT-CLI"), subject="采购合同 CLI"))
    code, output = await mcs(settings, "submit", str(eml))
    assert code == 0, output
    assert json.loads(output)["workflow_id"].startswith("sales-email-")
    code, output = await mcs(settings, "submit", str(data_dir / "nope.eml"))
    assert code != 0 and "no such file" in output


async def test_an_api_that_is_not_running_is_one_line_that_says_what_to_do(
    settings: Settings,
) -> None:
    port = str(free_port())  # nothing listens there
    code, output = await mcs(settings, "runs", MCS_API_PORT=port)
    assert code == 1 and "Traceback" not in output
    [line] = output.strip().splitlines()
    assert line.startswith(f"mcs: cannot reach the MCS API at http://127.0.0.1:{port}")
    assert "mcs dev" in line and "MCS_PUBLIC_BASE_URL" in line


async def test_invalid_settings_are_one_line_naming_the_variable(settings: Settings) -> None:
    code, output = await mcs(settings, "runs", MCS_MAILBOXES='[{"name": "x"}]')
    assert code == 1 and "Traceback" not in output
    [line] = output.strip().splitlines()
    assert line.startswith("mcs: invalid settings: MCS_MAILBOXES.0.USER: Field required")


async def test_runs_show_prints_a_run_with_its_timeline(
    settings: Settings, api_url: str, data_dir: Path, ts_worker: Settings
) -> None:
    from sandbox.demo import raw_contract_email

    eml = data_dir / "show.eml"
    eml.write_bytes(raw_contract_email())
    code, output = await mcs(settings, "submit", str(eml))
    workflow_id = json.loads(output)["workflow_id"]
    for _ in range(50):
        code, output = await mcs(settings, "runs", "show", workflow_id)
        if "finalize" in output:
            break
        await asyncio.sleep(0.2)
    assert code == 0 and output.startswith(f"{workflow_id}  SUCCESS"), output
    assert "timeline:" in output and "call_erp_gateway" in output and " ok " in output


async def test_doctor_prints_each_dependency_and_fails_when_one_is_down(
    settings: Settings, api_url: str
) -> None:
    up = {
        "MCS_DATA_DIR": str(settings.data_dir),
        "MCS_DIFY_BASE_URL": settings.dify_base_url,
        "MCS_ERP_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "MCS_SMTP_HOST": "127.0.0.1",
        "MCS_SMTP_PORT": str(settings.smtp_port),
        "MCS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    code, output = await mcs(settings, "doctor", **up)
    *checks, verdict = output.splitlines()
    lines = {line.split()[0]: line.split()[1] for line in checks}
    assert code == 1 and verdict == "not ready", output
    assert lines == {
        "database": "up", "temporal": "down", "dify": "up", "erp": "down", "smtp": "up",
        "sender_auth": "off",
    }, output  # fmt: skip
    assert "temporal  down" in output and output.count("not connected") == 1


async def test_api_and_worker_refuse_dev_defaults_in_production(
    settings: Settings, data_dir: Path
) -> None:
    unsafe = {
        "MCS_DATA_DIR": str(data_dir),
        "MCS_API_KEYS": "mcs-dev-key",
        "MCS_MAILBOXES": '[{"name": "sales", "host": "imap.example", "tls": false, '
        '"user": "u", "password": "p"}]',
        "MCS_SMTP_PASSWORD": "s",
        "MCS_SMTP_TLS": "off",
        "MCS_PUBLIC_BASE_URL": "http://mcs.example.com",
    }
    for command in ("api", "worker"):
        code, output = await mcs(settings, command, **unsafe)
        assert code == 1, output
        assert output.startswith("mcs: refusing to start in production (MCS_ENV=production): ")
        for problem in (
            "MCS_API_KEYS: key 'dev' is a dev key",
            "MCS_FILE_URL_SECRET is the dev secret",
            "MCS_PAYLOAD_KEY is not set",
            "mailbox sales: credentials over plain-text IMAP",
            "MCS_SMTP_PASSWORD over plain-text SMTP",
            "MCS_SENDER_AUTH is checked but MCS_TRUSTED_AUTHSERV_IDS is empty",
            "MCS_PUBLIC_BASE_URL is http://",
            "MCS_DIFY_CONTRACT_APP_KEY is the simulator's dev key",
            "MCS_ERP_API_KEY is the simulator's dev key",
        ):
            assert problem in output, (problem, output)
        assert len(output.splitlines()) == 1


async def test_a_malformed_payload_key_is_one_line_naming_it(settings: Settings) -> None:
    code, output = await mcs(settings, "api", MCS_PAYLOAD_KEY="no-id-just-a-key")
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert (
        output.startswith("mcs: invalid settings: MCS_PAYLOAD_KEY: ") and "id:base64key" in output
    )


async def test_a_malformed_scoped_key_is_a_settings_error(settings: Settings) -> None:
    code, output = await mcs(
        settings, "runs", MCS_API_KEYS="ops:k-0123456789abcdef:runs:read+runs:fly"
    )
    assert code == 1
    assert "MCS_API_KEYS" in output and "unknown: runs:fly" in output, output


def test_the_shipped_env_example_is_refused_until_filled_in() -> None:
    example = Path(__file__).parent.parent / ".env.example"
    settings = Settings(_env_file=example, env="production")
    problems = " ".join(settings.production_problems())
    for name in ("MCS_API_KEYS is empty", "MCS_FILE_URL_SECRET", "MCS_PAYLOAD_KEY"):
        assert name in problems


def test_every_setting_is_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    missing = [
        f"MCS_{n.upper()}" for n in Settings.model_fields if f"MCS_{n.upper()}" not in readme
    ]
    assert missing == []
