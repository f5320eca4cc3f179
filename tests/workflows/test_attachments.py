"""Which attachment is the contract: chosen among several, read from documents and scans, and a
contract mail with nothing readable is told to the salesperson."""

import pytest
from temporalio.testing import WorkflowEnvironment

from models.runs import RunStatus
from sandbox.demo import contract_number, contract_pdf, make_email, with_files
from sandbox.documents import make_docx, make_png, make_xlsx
from sandbox.pdf import Contract, Item, contract_lines, make_pdf
from settings import Settings
from tests.helpers import Sims, run


def lines(number: str) -> list[str]:
    from decimal import Decimal

    item = Item("P-100", "Hydraulic pump", Decimal(3), "pcs", Decimal("99.50"))
    return contract_lines(Contract(number, "demo customer", items=[item]))


async def test_the_named_contract_wins_over_a_bigger_pdf(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    number = contract_number()
    event = with_files(
        make_email(),
        [
            ("invoice-2026-11.pdf", make_pdf(["INVOICE 4711"], pad_to=40_000)),
            ("采购合同_华东机械.pdf", contract_pdf(number)),
        ],
    )
    result = await run(ts_env.client, ts_worker, event)
    assert result.status == RunStatus.SUCCESS, result.errors
    assert result.contract_no == number
    assert (
        "contract read from 采购合同_华东机械.pdf; not read: invoice-2026-11.pdf" in result.warnings
    )
    assert sims.erp_orders[result.idempotency_key]["order_payload"]["contract_no"] == number  # type: ignore[index]


async def test_the_customer_match_wins_then_the_largest_pdf(
    ts_env: WorkflowEnvironment, ts_worker: Settings
) -> None:
    matched, largest = contract_number(), contract_number()
    notes = make_pdf(["NOTES"], pad_to=30_000)
    by_customer = with_files(
        make_email(), [("notes.pdf", notes), ("华东机械.pdf", contract_pdf(matched))]
    )
    assert (await run(ts_env.client, ts_worker, by_customer)).contract_no == matched
    by_size = with_files(
        make_email(),
        [("华东机械_附件.pdf", make_pdf(["NOTES"])),
         ("华东机械_扫描.pdf", contract_pdf(largest, pad_to=20_000))],
    )  # fmt: skip
    result = await run(ts_env.client, ts_worker, by_size)
    assert result.contract_no == largest and "not read: 华东机械_附件.pdf" in result.warnings[0]


@pytest.mark.parametrize(
    ("name", "make"),
    [("采购合同_华东机械.docx", make_docx), ("采购合同_华东机械.xlsx", make_xlsx),
     ("采购合同_华东机械_scan.png", make_png)],
    ids=["docx", "xlsx", "png-scan"],
)  # fmt: skip
async def test_documents_and_scans_are_read(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims, name: str, make: object
) -> None:
    number = contract_number()
    event = with_files(make_email(), [(name, make(lines(number)))])  # type: ignore[operator]
    result = await run(ts_env.client, ts_worker, event)
    assert result.status == RunStatus.SUCCESS, result.errors
    assert result.contract_no == number
    assert result.file_url and result.file_url.split("?")[0].endswith(name.rsplit(".")[-1])


async def test_a_contract_mail_without_a_readable_file_is_ignored_and_told(
    ts_env: WorkflowEnvironment, ts_worker: Settings, sims: Sims
) -> None:
    event = with_files(
        make_email(), [("合同.txt", b"see the paper copy"), ("合同.zip", b"PK\x05\x06" + bytes(18))]
    )
    result = await run(ts_env.client, ts_worker, event)
    assert result.status == RunStatus.IGNORED
    assert [e.code for e in result.errors] == ["UNSUPPORTED_ATTACHMENT"]
    assert "合同.txt (text/plain)" in result.errors[0].message
    assert result.idempotency_key not in sims.erp_orders
    [mail] = [m for m in sims.smtp.messages if m["X-MCS-Workflow-Id"] == result.workflow_id]
    assert "not readable" in str(mail["Subject"]) and "sales.li@mcs.example" in str(mail["To"])
    assert "合同.zip" in mail.get_content() and "DOCX" in mail.get_content()
