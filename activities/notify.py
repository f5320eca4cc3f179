"""Mails to the salespeople and reviewers, rendered from Jinja2 templates and sent by SMTP."""

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.errors import ErrorType
from models.results import NotifyInput, NotifyResult
from settings import Settings
from templates import TEMPLATE_DIR

log = logging.getLogger(__name__)
KINDS = {
    "success", "failure", "manual_review", "order_review", "review_reminder", "unknown_contact",
    "unsupported_attachment",
}  # fmt: skip


def redact_email(address: str) -> str:
    """a***@example.com: enough to debug, not enough to leak."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class NotifyActivities:
    """Renders and sends notification mails; a repeated send keeps its Message-ID."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jinja = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR), undefined=StrictUndefined, autoescape=False
        )

    def render(self, input: NotifyInput) -> EmailMessage:
        if input.kind not in KINDS:
            raise ApplicationError(
                f"no template {input.kind!r}", type=ErrorType.NO_TEMPLATE, non_retryable=True
            )
        text = self._jinja.get_template(f"{input.kind}.txt.j2").render(
            workflow_id=input.workflow_id, **input.context
        )
        subject, _, body = text.partition("\n")
        message = EmailMessage()
        message["Subject"] = subject.strip()
        message["From"] = self._settings.smtp_from
        reviewer = self._settings.reviewer_email
        message["To"] = ", ".join(r for r in input.to if r) or reviewer
        if input.include_reviewers and input.to:
            message["Cc"] = reviewer
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{input.workflow_id}.{input.kind}@mcs>"
        message["X-MCS-Workflow-Id"] = input.workflow_id
        message.set_content(body.lstrip("\n"))
        return message

    @activity.defn
    def notify_sales(self, input: NotifyInput) -> NotifyResult:
        """Send one notification mail."""
        recipients = [r for r in input.to if r]
        if input.include_reviewers and self._settings.reviewer_email not in recipients:
            recipients.append(self._settings.reviewer_email)
        if not recipients:
            raise ApplicationError("no recipient", type=ErrorType.NO_RECIPIENT, non_retryable=True)
        message = self.render(input)
        settings = self._settings
        timeout = settings.smtp_timeout.total_seconds()
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_user:
                smtp.starttls()
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message, to_addrs=recipients)
        log.info(
            "sent %s mail to %s",
            input.kind,
            ", ".join(redact_email(r) for r in recipients),
        )
        return NotifyResult(message_id=str(message["Message-ID"]), recipients=len(recipients))
