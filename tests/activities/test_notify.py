"""Mails about unknown senders: spam must not become mail from us."""

import time
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from devstack import free_port
from models.db import make_engine
from models.migrate import upgrade
from models.results import NotifyInput
from sandbox.smtp import start_sink
from settings import Settings
from telemetry.metrics import UNKNOWN_SENDER_MAILS


def unknown(sender: str, n: int) -> NotifyInput:
    context = {"subject": f"Cheap watches {n}", "sender": sender, "status": "UNKNOWN_CONTACT",
               "status_text": "unknown sender", "attachments": "", "error_code": "",
               "error_message": "", "filename": ""}  # fmt: skip
    return NotifyInput(kind="unknown_contact", to=[], workflow_id=f"wf-{sender}-{n}",
                       include_reviewers=True, context=context)  # fmt: skip


def test_an_unknown_sender_is_mailed_about_once_per_interval(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mcs.db'}"
    upgrade(url)
    port = free_port()
    controller, sink = start_sink("127.0.0.1", port)
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="off",
                        unknown_sender_mail_every=0.5)  # fmt: skip
    held = UNKNOWN_SENDER_MAILS.labels("held")._value.get()
    notify = NotifyActivities(settings, make_engine(url)).notify_sales
    try:
        results = [
            ActivityEnvironment().run(notify, unknown("spam@evil.example", n)) for n in range(5)
        ]
        other = ActivityEnvironment().run(notify, unknown("other@evil.example", 0))
        assert [r.recipients for r in results] == [1, 0, 0, 0, 0] and other.recipients == 1
        assert len(sink.messages) == 2
        assert UNKNOWN_SENDER_MAILS.labels("held")._value.get() == held + 4
        time.sleep(0.6)  # the interval has passed: one more mail about it
        assert ActivityEnvironment().run(notify, unknown("spam@evil.example", 9)).recipients == 1
        assert len(sink.messages) == 3
    finally:
        controller.stop()
