"""The review pages and the inbox of `mcs dev --demo` in a real headless Chromium: links from the
captured review mails and from the demo's printout; approve a customer review choosing a
candidate, correct an order line and approve, reject one; used, tampered and expired links."""

import asyncio
import base64
import os
import re
import shutil
import tempfile
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from storage.signed_urls import sign_review_token
from tests.helpers import free_ports, mcs_dev, printed_url
from tests.test_web_ui import ARTIFACTS, CHROMIUM_FLAGS, chromium

if TYPE_CHECKING:
    from playwright.async_api import Page

LINK = re.compile(r"(https?://\S+/review/[A-Za-z0-9_-]+\.[0-9a-f]{64})")
KEY, SECRET = "mcs-dev-key", "ui-test-file-secret-0123456789"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def mailed_link(mail_dir: Path, workflow_id: str) -> str:
    """The personal link in the review mail a run sent (as the SMTP sink stored it)."""
    for path in sorted(mail_dir.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if (
            message["X-MCS-Workflow-Id"] == workflow_id
            and "review" in str(message["Subject"]).lower()
        ):
            found = LINK.search(message.get_content())
            if found:
                return found.group(1)
    raise AssertionError(f"no review mail of {workflow_id} in {mail_dir}")


async def run_of(api: httpx.AsyncClient, workflow_id: str, until: str) -> dict[str, Any]:
    run: dict[str, Any] = {}
    for _ in range(200):
        run = (await api.get(f"/v1/orchestrations/sales-email/runs/{workflow_id}")).json()
        if run["status"] == until:
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} is {run.get('status')}, not {until}")


def _names(link: str, workflow_id: str) -> bool:
    """Whether a review link is one of `workflow_id` (its claims are readable, only signed)."""
    body = link.rsplit("/", 1)[-1].split(".")[0]
    return workflow_id in base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


async def test_reviews_are_decided_in_a_browser_from_mails_and_the_inbox() -> None:
    from playwright.async_api import async_playwright

    browser_path = chromium()
    root = Path(tempfile.mkdtemp(prefix="mcs-review-ui-"))
    ports = free_ports("metrics")
    env = {**os.environ, "MCS_DATA_DIR": str(root), "MCS_API_PORT": "0",
           "MCS_TEMPORAL_PORT": "0", "MCS_TEMPORAL_UI_PORT": "0",
           "MCS_WORKER_METRICS_PORT": str(ports["metrics"]),
           "MCS_FILE_URL_SECRET": SECRET}  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    async with mcs_dev(root, env, "--demo") as dev:
        text = await dev.printed("review inbox: ")
        base = printed_url(text)
        assert f"review inbox: {base}/inbox" in text
        demo = dict(
            re.findall(
                r"MANUAL_REVIEW \((low score|mismatch|order)\)\s+->\s+MANUAL_REVIEW\s+(\S+)", text
            )
        )
        links = LINK.findall(text)
        assert set(demo) == {"low score", "mismatch", "order"} and len(links) == 3, text
        customer_id, order_id, rejected_id = demo["low score"], demo["order"], demo["mismatch"]
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": KEY}) as api:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=browser_path, args=CHROMIUM_FLAGS
                )
                desktop = await browser.new_page(viewport=DESKTOP)  # type: ignore[arg-type]
                phone = await browser.new_page(viewport=PHONE, is_mobile=True)  # type: ignore[arg-type]

                customer_link = await customer_review(desktop, phone, api, root, customer_id)
                order_link = next(link for link in links if _names(link, order_id))
                await order_review(desktop, phone, api, order_link, order_id)
                await reject_in_inbox(desktop, phone, api, base, rejected_id)
                # a tampered link, and an expired one
                await desktop.goto(customer_link[:-4] + "0000")
                await desktop.get_by_text("This link is not valid").wait_for()
                old = sign_review_token(rejected_id, "x@mcs.example", int(time.time()) - 60, SECRET)
                await desktop.goto(f"{base}/review/{old}")
                await desktop.get_by_text("This link has expired").wait_for()
                await browser.close()
    shutil.rmtree(root, ignore_errors=True)


async def customer_review(
    desktop: "Page", phone: "Page", api: httpx.AsyncClient, root: Path, workflow_id: str
) -> str:
    """A customer review, from the link in its mail: choose a candidate, approve; the link is
    used then. Its link."""
    for _ in range(50):
        try:
            link = mailed_link(root / "mail", workflow_id)
            break
        except AssertionError:
            await asyncio.sleep(0.1)
    await phone.goto(link)
    await phone.screenshot(path=str(ARTIFACTS / "review-customer-phone.png"), full_page=True)
    await desktop.goto(link)
    await desktop.get_by_text("Which customer is it?").wait_for()
    await desktop.screenshot(path=str(ARTIFACTS / "review-customer-desktop.png"), full_page=True)
    await desktop.locator("input[name=customer_id][value=C001]").check()
    await desktop.fill("#comment", "the buyer confirmed by phone")
    await desktop.get_by_role("button", name="Approve").click()
    await desktop.get_by_text("Review approved").wait_for()
    run = await run_of(api, workflow_id, "SUCCESS")
    assert run["customer_id"] == "C001"
    assert run["review"]["decision"]["reviewer"] == "sales-ops@localhost"
    await desktop.goto(link)  # the same link again: used
    await desktop.get_by_text("This link was used").wait_for()
    return link


async def order_review(
    desktop: "Page", phone: "Page", api: httpx.AsyncClient, link: str, workflow_id: str
) -> None:
    """An order review, from the demo's printed link: correct a line, approve."""
    await phone.goto(link)
    await phone.screenshot(path=str(ARTIFACTS / "review-order-phone.png"), full_page=True)
    await desktop.goto(link)
    await desktop.get_by_text("Order review").first.wait_for()
    await desktop.screenshot(path=str(ARTIFACTS / "review-order-desktop.png"), full_page=True)
    unknown = desktop.locator("input[name$='-product_code'][value='X-404']")
    await unknown.fill("P-200")  # the guard's finding: a product nobody sells
    await desktop.get_by_role("button", name="Approve").click()
    await desktop.get_by_text("Review approved").wait_for()
    assert "with your corrections" in await desktop.content()
    await run_of(api, workflow_id, "SUCCESS")


async def reject_in_inbox(
    desktop: "Page", phone: "Page", api: httpx.AsyncClient, base: str, workflow_id: str
) -> None:
    """The inbox: log in with a reviewer's key, open the waiting run, reject it."""
    await desktop.goto(f"{base}/inbox")
    await desktop.fill("#key", KEY)
    await desktop.get_by_role("button", name="Log in").click()
    await desktop.get_by_text("Waiting for review").wait_for()
    await desktop.screenshot(path=str(ARTIFACTS / "inbox-desktop.png"), full_page=True)
    cookies = await desktop.context.cookies()
    await phone.context.add_cookies(cookies)  # type: ignore[arg-type]
    await phone.goto(f"{base}/inbox")
    await phone.screenshot(path=str(ARTIFACTS / "inbox-phone.png"), full_page=True)
    await desktop.get_by_role("link", name="Review").first.click()
    await desktop.get_by_role("button", name="Reject").click()
    await desktop.get_by_text("Review rejected").wait_for()
    await run_of(api, workflow_id, "REJECTED")
