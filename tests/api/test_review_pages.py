"""Review pages over HTTP: a personal link from the review mail shows the case and decides it;
tampered, expired, used and stale links answer clear pages, never a 500."""

import asyncio
import re
import time
import uuid
from typing import Any

import httpx

from matching.index import normalise_filename
from models.email import EmailEvent
from sandbox.demo import contract_number, contract_pdf, make_email, unmatched_filename
from settings import Settings
from storage.signed_urls import sign_review_token
from tests.helpers import Sims, finished

RUN = "/v1/orchestrations/sales-email/run"
LINK = re.compile(r"https?://[^/\s]+(/review/[A-Za-z0-9_-]+\.[0-9a-f]{64})")


async def waiting(api: httpx.AsyncClient, email: EmailEvent) -> str:
    answer = await api.post(RUN, json=email.model_dump(mode="json", by_alias=True))
    workflow_id: str = answer.json()["workflow_id"]
    run = await finished(api, workflow_id)
    assert run["status"] == "MANUAL_REVIEW", run
    return workflow_id


async def review_link(sims: Sims, workflow_id: str) -> str:
    """The path of the personal link in the review mail the run sent."""
    for _ in range(100):
        for message in list(sims.smtp.messages):
            subject = str(message["Subject"]).lower()
            if message["X-MCS-Workflow-Id"] == workflow_id and "review" in subject:
                found = LINK.search(message.get_content())
                assert found, message.get_content()
                return found.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no review mail for {workflow_id}")


def unknown_customer() -> EmailEvent:
    return make_email(filename=unmatched_filename())


async def test_a_customer_review_is_decided_from_the_mails_link(
    api: httpx.AsyncClient, sims: Sims, dev_settings: Settings
) -> None:
    email = unknown_customer()
    workflow_id = await waiting(api, email)
    link = await review_link(sims, workflow_id)
    shown = await api.get(link, headers={"X-API-Key": ""})
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert "buyer@huadong.example" in html and "CUSTOMER_MATCH_LOW_SCORE" in html
    assert 'name="customer_id" value="C001"' in html  # the contact's own customer, offered
    filename = email.attachments[0].filename
    assert filename in html and "/files/" in html
    alias = normalise_filename(filename)
    assert f"The name “{alias}” will be remembered as a name of the customer you approve" in html
    tampered = link[:-3] + ("000" if not link.endswith("000") else "111")
    assert (await api.get(tampered)).status_code == 403
    form = {"decision": "approve", "customer_id": "C001", "comment": "checked by phone"}
    decided = await api.post(link, data=form)
    assert decided.status_code == 200 and "approved" in decided.text, decided.text
    assert f"“{alias}” will be remembered as a name of 上海华东机械有限公司 (C001)" in decided.text
    run = await finished(api, workflow_id)
    assert run["status"] == "SUCCESS" and run["customer_id"] == "C001"
    assert [(x["kind"], x["ref"]) for x in run["learned"]] == [("customer_alias", alias)]
    assert run["review"]["decision"]["reviewer"] == dev_settings.reviewer_email
    again = await api.get(link)
    assert again.status_code == 410 and "This link was used" in again.text
    assert (await api.post(link, data=form)).status_code == 410


async def test_an_order_review_is_corrected_on_the_page(api: httpx.AsyncClient, sims: Sims) -> None:
    email = make_email(pdf=contract_pdf(contract_number("GUARD-ZERO")))
    workflow_id = await waiting(api, email)
    link = await review_link(sims, workflow_id)
    html = (await api.get(link)).text
    assert "Order review" in html and 'name="line-0-quantity"' in html
    for hostile in ("NaN", "Infinity", "1E+999999999", "-1"):  # a 422 page, never a 500
        refused = await api.post(link, data={"decision": "approve", "line-0-quantity": hostile})
        assert refused.status_code == 422 and "Not decided" in refused.text, hostile
    bad = await api.post(link, data={"decision": "approve", "line-0-quantity": "ten"})
    assert bad.status_code == 422 and "line 1" in bad.text  # a clear page, the link still works
    form: dict[str, Any] = {"decision": "approve", "line-0-quantity": "10", "line-1-quantity": "10"}
    decided = await api.post(link, data=form)
    assert decided.status_code == 200 and "with your corrections" in decided.text, decided.text
    run = await finished(api, workflow_id)
    assert run["status"] == "SUCCESS", run
    sent = sims.erp_orders[run["idempotency_key"]]["order_payload"]
    assert [line["quantity"] for line in sent["lines"]] == ["10", "10"]  # type: ignore[index]


async def test_the_order_page_says_what_a_corrected_code_will_teach(
    api: httpx.AsyncClient, sims: Sims
) -> None:
    theirs = f"HD-{uuid.uuid4().hex[:6].upper()}"
    workflow_id = await waiting(
        api, make_email(pdf=contract_pdf(contract_number(), ("P-100", theirs)))
    )
    link = await review_link(sims, workflow_id)
    html = (await api.get(link)).text
    assert f"{theirs} will be remembered as the code you enter, for 上海华东机械有限公司" in html
    assert "P-100 will be remembered" not in html  # a known line teaches nothing
    decided = await api.post(link, data={"decision": "approve", "line-1-product_code": "P-200"})
    assert decided.status_code == 200, decided.text
    assert f"{theirs} will be remembered as P-200 for 上海华东机械有限公司" in decided.text
    run = await finished(api, workflow_id)
    assert run["status"] == "SUCCESS" and [x["ref"] for x in run["learned"]] == [theirs]
    # a code nobody taught yet (other tests of the session teach X-404 to this customer)
    unknown = f"X-{uuid.uuid4().hex[:6].upper()}"
    again = make_email(pdf=contract_pdf(contract_number(), (theirs, unknown)))
    html = (await api.get(await review_link(sims, await waiting(api, again)))).text
    assert 'value="P-200"' in html and f"their code: {theirs}" in html  # learned, resolved
    assert f"{unknown} will be remembered as the code you enter" in html  # still unknown


async def test_expired_and_stale_links_answer_their_pages(
    api: httpx.AsyncClient, sims: Sims, dev_settings: Settings
) -> None:
    workflow_id = await waiting(api, unknown_customer())
    secret = dev_settings.file_url_secret
    expired = sign_review_token(workflow_id, "ops@mcs.example", int(time.time()) - 5, secret)
    answer = await api.get(f"/review/{expired}")
    assert answer.status_code == 410 and "expired" in answer.text
    later = int(time.time()) + 3600  # not this review's deadline: a link of another review
    stale = await api.get(f"/review/{sign_review_token(workflow_id, 'ops', later, secret)}")
    assert stale.status_code == 409 and "no longer waits" in stale.text
    nobody = sign_review_token("sales-email-nothing", "ops", later, secret)
    assert (await api.get(f"/review/{nobody}")).status_code == 404
    rejected = await api.post(await review_link(sims, workflow_id), data={"decision": "reject"})
    assert rejected.status_code == 200 and "rejected" in rejected.text
    assert (await finished(api, workflow_id))["status"] == "REJECTED"


async def test_the_inbox_lists_waiting_runs_for_a_reviewer_key(
    api: httpx.AsyncClient, sims: Sims
) -> None:
    workflow_id = await waiting(api, unknown_customer())
    login_page = await api.get("/inbox")
    assert login_page.status_code == 200 and 'name="key"' in login_page.text
    form = FORM_TOKEN.search(login_page.text).group(1)  # type: ignore[union-attr]
    # a login CSRF: another site posts its own key, without this browser's form token
    for forged in ({"key": "test-key"}, {"key": "test-key", "form_token": "x" * 43}):
        refused = await api.post("/inbox/login", data=forged)
        assert refused.status_code == 403 and "not sent from the inbox" in refused.text
        assert "mcs_inbox" not in refused.headers.get("set-cookie", "")
    refused = await api.post("/inbox/login", data={"key": "wrong", "form_token": form})
    assert refused.status_code == 401
    logged_in = await api.post("/inbox/login", data={"key": "test-key", "form_token": form})
    assert logged_in.status_code == 303
    cookie = logged_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    for _ in range(50):  # visibility catches up within a moment
        listed = await api.get("/inbox")
        if workflow_id in listed.text or "/review/" in listed.text:
            break
    assert "Waiting for review" in listed.text and "/review/" in listed.text
    [link] = [m.group(1) for m in LINK.finditer(listed.text) if workflow_id in _claims(m.group(1))]
    page = await api.get(link)
    assert page.status_code == 200 and "You decide as dev" in page.text
    assert (await api.post("/inbox/logout")).status_code == 403  # no form token: still in
    assert "Waiting for review" in (await api.get("/inbox")).text
    out = await api.post("/inbox/logout", data={"form_token": form})
    assert out.status_code == 303 and 'mcs_inbox=""' in out.headers["set-cookie"]
    api.cookies.clear()
    assert 'name="key"' in (await api.get("/inbox")).text


FORM_TOKEN = re.compile(r'name="form_token" value="([A-Za-z0-9_-]+)"')


def _claims(path: str) -> str:
    import base64

    body = path.removeprefix("/review/").split(".")[0]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
