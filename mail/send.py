"""MCS's own mails: rendered from Jinja2 templates and sent over SMTP (by the notify step, and by
the API for an email whose run could never start)."""

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from mail.tls import TlsRefused, tls_context, verified
from models.results import NotifyInput
from settings import Settings
from templates import TEMPLATE_DIR

log = logging.getLogger(__name__)
KINDS = {
    "success", "failure", "manual_review", "order_review", "review_reminder", "unknown_contact",
    "unsupported_attachment", "start_refused",
}  # fmt: skip


class NoTemplate(ValueError):
    """A mail kind without a template."""


class NoRecipient(ValueError):
    """A mail with nobody to send it to."""


def redact_email(address: str) -> str:
    """a***@example.com: enough to debug, not enough to leak."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class Mailer:
    """Renders and sends one kind of mail; a repeated send keeps its Message-ID."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jinja = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR), undefined=StrictUndefined, autoescape=False
        )

    def render(self, notice: NotifyInput) -> EmailMessage:
        if notice.kind not in KINDS:
            raise NoTemplate(f"no template {notice.kind!r}")
        text = self._jinja.get_template(f"{notice.kind}.txt.j2").render(
            workflow_id=notice.workflow_id, **notice.context
        )
        subject, _, body = text.partition("\n")
        message = EmailMessage()
        message["Subject"] = subject.strip()
        message["From"] = self._settings.smtp_from
        reviewer = self._settings.reviewer_email
        message["To"] = ", ".join(r for r in notice.to if r) or reviewer
        if notice.include_reviewers and notice.to:
            message["Cc"] = reviewer
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{notice.workflow_id}.{notice.kind}@mcs>"
        message["X-MCS-Workflow-Id"] = notice.workflow_id
        message.set_content(body.lstrip("\n"))
        return message

    def _connect(self) -> smtplib.SMTP:
        """A connection over TLS (`tls`), upgraded by STARTTLS when the server offers it
        (`starttls`; required before a login), or plain (`off`); certificates verified."""
        settings = self._settings
        host, port = settings.smtp_host, settings.smtp_port
        timeout = settings.smtp_timeout.total_seconds()
        with verified("SMTP", host, port):
            if settings.smtp_tls == "tls":
                return smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=tls_context(settings.ca_file)
                )
            smtp = smtplib.SMTP(host, port, timeout=timeout)
            if settings.smtp_tls == "off":
                return smtp
            try:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=tls_context(settings.ca_file))
                    smtp.ehlo()
                elif settings.smtp_user:
                    raise TlsRefused(
                        f"SMTP {host}:{port} offers no STARTTLS: the password is not sent in "
                        "the clear (MCS_SMTP_TLS=tls for a TLS port)"
                    )
            except BaseException:
                smtp.close()
                raise
            return smtp

    def send(self, notice: NotifyInput) -> tuple[str, int]:
        """Send the mail: its Message-ID and how many recipients it went to."""
        recipients = [r for r in notice.to if r]
        if notice.include_reviewers and self._settings.reviewer_email not in recipients:
            recipients.append(self._settings.reviewer_email)
        if not recipients:
            raise NoRecipient("no recipient")
        message = self.render(notice)
        settings = self._settings
        with self._connect() as smtp:
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message, to_addrs=recipients)
        log.info("sent %s mail to %s", notice.kind, ", ".join(map(redact_email, recipients)))
        return str(message["Message-ID"]), len(recipients)
