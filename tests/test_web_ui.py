"""The Temporal Web UI of `mcs dev` in a real headless Chromium: find a review, read its input."""

import base64
import os
import shutil
import tempfile
from pathlib import Path

import httpx

from sandbox.demo import make_email, unmatched_filename
from tests.helpers import free_ports, mcs_dev, missing, printed_url

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        missing("chromium is not installed (apt-get install chromium)")
    return found


async def test_web_ui_finds_a_review_and_shows_its_decoded_input() -> None:
    browser_path = chromium()
    root = Path(tempfile.mkdtemp(prefix="mcs-ui-"))
    ports = free_ports("metrics")
    key = base64.b64encode(os.urandom(32)).decode()
    env = {**os.environ, "MCS_DATA_DIR": str(root), "MCS_API_PORT": "0",
           "MCS_TEMPORAL_PORT": "0", "MCS_TEMPORAL_UI_PORT": "0",
           "MCS_PAYLOAD_KEY": f"k1:{key}",
           "MCS_WORKER_METRICS_PORT": str(ports["metrics"])}  # fmt: skip
    async with mcs_dev(root, env) as dev:
        printed = await dev.printed("press Ctrl-C to stop")
        email = make_email(filename=unmatched_filename()).model_dump(mode="json", by_alias=True)
        async with httpx.AsyncClient(base_url=printed_url(printed)) as api:
            answer = await api.post(
                "/v1/orchestrations/sales-email/run",
                json=email,
                headers={"X-API-Key": "mcs-dev-key"},
            )
        workflow_id = answer.json()["workflow_id"]
        await shows_decoded(printed_url(printed, "Web UI"), workflow_id, browser_path)
        worker_metrics = f"http://127.0.0.1:{ports['metrics']}/metrics"
        assert f"/metrics (API), {worker_metrics} (worker" in printed, printed
        async with httpx.AsyncClient() as http:
            ours = (await http.get(worker_metrics)).text
            sdk = (await http.get(f"http://127.0.0.1:{ports['metrics'] + 1}/metrics")).text
        assert 'orchestrator_step_duration_seconds_count{step="match_customer"}' in ours
        assert "temporal_workflow_task_execution_latency" in sdk
        assert " INFO worker: worker metrics on http" in printed  # text logs for humans
    shutil.rmtree(root, ignore_errors=True)


async def shows_decoded(web_ui: str, workflow_id: str, browser_path: str) -> None:
    """The Web UI lists the run among those waiting for review, and shows its input decoded."""
    from playwright.async_api import async_playwright

    ui = f"{web_ui}/namespaces/default/workflows"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=browser_path, args=CHROMIUM_FLAGS
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        link = page.locator(f"a[href*='{workflow_id}']").first
        for _ in range(20):  # visibility catches up with the search attribute within seconds
            await page.goto(f"{ui}?query=SalesEmailStatus%3D%22MANUAL_REVIEW%22")
            try:
                await link.wait_for(timeout=3000)
                break
            except Exception:
                continue
        await link.click()
        await page.get_by_text('"from_email": "buyer@huadong.example"').first.wait_for(
            timeout=20000
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "web-ui-review-decoded.png"))
        await browser.close()
