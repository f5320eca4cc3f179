"""MCS's own mails: rendered from Jinja2 templates and sent over SMTP (by the notify step, and by
the API for an email whose run could never start)."""

import hashlib
import logging
import smtplib
import threading
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from mail.policy import POLICY
from mail.tls import TlsRefused, tls_context, verified
from models.results import NotifyInput
from settings import Settings
from storage.signed_urls import review_url
from templates import TEMPLATE_DIR

log = logging.getLogger(__name__)
REVIEW_KINDS = {"manual_review", "order_review", "review_reminder"}
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


POOL_SIZE = 4  # idle connections kept per process
POOL_IDLE_SECONDS = 20.0  # an idle connection older than this is closed (servers drop them)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT, or just close a connection that cannot say it."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


class Mailer:
    """Renders and sends one kind of mail; a repeated send keeps its Message-ID."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jinja = Environment(  # the templates are part of the package: read once
            loader=FileSystemLoader(TEMPLATE_DIR),
            undefined=StrictUndefined,
            autoescape=False,
            auto_reload=False,
        )
        self._idle: list[tuple[float, smtplib.SMTP]] = []  # open connections, when last used
        self._lock = threading.Lock()

    def render(self, notice: NotifyInput, reviewer: str = "") -> EmailMessage:
        """The mail; a review mail carries `reviewer`'s personal link to the review page."""
        if notice.kind not in KINDS:
            raise NoTemplate(f"no template {notice.kind!r}")
        context = dict(notice.context)
        if notice.kind in REVIEW_KINDS:
            context["review_url"] = self.review_link(notice, reviewer)
        text = self._jinja.get_template(f"{notice.kind}.txt.j2").render(
            workflow_id=notice.workflow_id, **context
        )
        subject, _, body = text.partition("\n")
        message = EmailMessage(policy=POLICY)
        message["Subject"] = subject.strip()
        message["From"] = self._settings.smtp_from
        reviewers = self._settings.reviewer_email
        message["To"] = ", ".join(r for r in notice.to if r) or reviewers
        if notice.include_reviewers and notice.to:
            message["Cc"] = reviewers
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{notice.workflow_id}.{notice.kind}@mcs>"
        message["X-MCS-Workflow-Id"] = notice.workflow_id
        message.set_content(body.lstrip("\n"))
        return message

    def _personal(self, notice: NotifyInput, reviewer: str) -> EmailMessage:
        message = self.render(notice, reviewer)
        message.replace_header("To", reviewer)
        del message["Cc"]
        personal = hashlib.sha256(reviewer.encode()).hexdigest()[:12]
        message.replace_header("Message-ID", f"<{notice.workflow_id}.{notice.kind}.{personal}@mcs>")
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
                elif settings.smtp_user or settings.production:
                    what = "the password is" if settings.smtp_user else "review links are"
                    raise TlsRefused(
                        f"SMTP {host}:{port} offers no STARTTLS: {what} not sent in the clear"
                        " (MCS_SMTP_TLS=tls for a TLS port; MCS_SMTP_TLS=off to send in clear)"
                    )
            except BaseException:
                smtp.close()
                raise
            return smtp

    def _deliver(self, messages: list[tuple[EmailMessage, list[str]]]) -> None:
        """Send over a pooled connection: connecting, EHLO and QUIT for every mail cost the
        worker a tenth of its CPU per run. A pooled connection the server has closed meanwhile
        is replaced by a new one, once; any other failure closes the connection."""
        smtp, pooled = self._take()
        try:
            try:
                for message, to in messages:
                    smtp.send_message(message, to_addrs=to)
            except smtplib.SMTPServerDisconnected:
                if not pooled:
                    raise
                _close(smtp)
                smtp = self._open()
                for message, to in messages:
                    smtp.send_message(message, to_addrs=to)
        except BaseException:
            _close(smtp)
            raise
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append((time.monotonic(), smtp))
                return
        _close(smtp)

    def _take(self) -> tuple[smtplib.SMTP, bool]:
        """A pooled connection used within POOL_IDLE_SECONDS, else a new one (and whether it
        was pooled)."""
        with self._lock:
            while self._idle:
                used, smtp = self._idle.pop()
                if time.monotonic() - used < POOL_IDLE_SECONDS:
                    return smtp, True
                _close(smtp)
        return self._open(), False

    def _open(self) -> smtplib.SMTP:
        smtp = self._connect()
        try:
            if self._settings.smtp_user:
                smtp.login(self._settings.smtp_user, self._settings.smtp_password)
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def review_link(self, notice: NotifyInput, reviewer: str) -> str:
        """`reviewer`'s link to the review page, valid until the review's deadline."""
        settings = self._settings
        deadline = notice.context.get("deadline", "")
        expires = (
            datetime.fromisoformat(deadline).timestamp()
            if deadline
            else time.time() + settings.review_timeout.total_seconds()
        )
        return review_url(
            settings.api_url, notice.workflow_id, reviewer, int(expires), settings.file_url_secret
        )

    def send(self, notice: NotifyInput) -> tuple[str, int]:
        """Send the mail: its Message-ID and how many recipients it went to. A review mail goes
        to each recipient alone, with a link of their own."""
        recipients = [r for r in notice.to if r]
        if notice.include_reviewers and self._settings.reviewer_email not in recipients:
            recipients.append(self._settings.reviewer_email)
        if not recipients:
            raise NoRecipient("no recipient")
        if notice.kind in REVIEW_KINDS:
            messages = [(self._personal(notice, r), [r]) for r in recipients]
        else:
            messages = [(self.render(notice), recipients)]
        self._deliver(messages)
        message = messages[0][0]
        log.info("sent %s mail to %s", notice.kind, ", ".join(map(redact_email, recipients)))
        return str(message["Message-ID"]), len(recipients)

    def tell_start_refused(self, workflow_id: str, subject: str, sender: str, error: str) -> None:
        """Tell the reviewers that an accepted email's run was refused for good (it is FAILED);
        a failure is logged: the email is marked already, the mail is a courtesy."""
        notice = NotifyInput(
            kind="start_refused",
            to=[],
            workflow_id=workflow_id,
            include_reviewers=True,
            context={"subject": subject, "sender": sender, "error_message": error},
        )
        try:
            self.send(notice)
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("telling the reviewers about the refused run %s failed", workflow_id)
