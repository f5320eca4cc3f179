"""Sending mail over pooled SMTP connections, against a real SMTP server (aiosmtpd)."""

from collections.abc import Iterator

import pytest

from devstack import free_port
from mail.send import Mailer
from models.results import NotifyInput
from sandbox.smtp import start_sink
from settings import Settings


def notice(n: int) -> NotifyInput:
    context = {"subject": f"采购合同 {n}", "sender": "buyer@huadong.example", "status": "SUCCESS",
               "status_text": "order created", "customer_id": "C001", "customer_name": "华东",
               "contract_no": f"HT-{n}", "sales_order_no": f"SO-{n}", "order_url": "",
               "warnings": "", "filename": "c.pdf", "lines": ""}  # fmt: skip
    return NotifyInput(kind="success", to=["sales.li@mcs.example"], workflow_id=f"wf-{n}",
                       context=context)  # fmt: skip


@pytest.fixture
def smtp_port() -> Iterator[int]:
    yield free_port()


def test_mails_share_a_connection_and_survive_a_server_restart(smtp_port: int) -> None:
    controller, sink = start_sink("127.0.0.1", smtp_port)
    mailer = Mailer(Settings(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_tls="off"))
    try:
        for n in range(3):
            mailer.send(notice(n))
        assert len(sink.messages) == 3
        assert len(set(sink.peers)) == 1  # one connection for all three
        controller.stop()  # the server goes away and comes back: the pooled connection is dead
        controller, sink = start_sink("127.0.0.1", smtp_port)
        mailer.send(notice(3))
        assert [m["Message-ID"] for m in sink.messages] == ["<wf-3.success@mcs>"]
    finally:
        controller.stop()


def test_a_refused_mail_closes_its_connection(smtp_port: int) -> None:
    controller, sink = start_sink("127.0.0.1", smtp_port)
    mailer = Mailer(Settings(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_tls="off"))
    try:
        mailer.send(notice(0))
        sink.fail = True
        with pytest.raises(Exception, match="451"):
            mailer.send(notice(1))
        sink.fail = False
        mailer.send(notice(2))
        first, second = sink.peers
        assert first != second  # the failed connection was not given back to the pool
    finally:
        controller.stop()
