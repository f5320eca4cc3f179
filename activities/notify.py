"""The notify step: mails to the salespeople and reviewers (rendered and sent by mail.send)."""

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from temporalio import activity
from temporalio.exceptions import ApplicationError

from mail.send import Mailer, NoRecipient, NoTemplate
from models.errors import ErrorType
from models.masterdata import utcnow
from models.results import NotifyInput, NotifyResult
from models.runs import UnknownSender
from settings import Settings
from telemetry.metrics import UNKNOWN_SENDER_MAILS

UNKNOWN = "unknown_contact"


class NotifyActivities:
    """Sends notification mails; a mail without template or recipient is not retried. Mail
    about an unknown sender goes out at most once per MCS_UNKNOWN_SENDER_MAIL_EVERY per address:
    spam would otherwise become mail from us."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self._mailer = Mailer(settings)
        self._engine = engine
        self._every = settings.unknown_sender_mail_every

    @activity.defn
    def notify_sales(self, input: NotifyInput) -> NotifyResult:
        """Send one notification mail (or record one about an unknown sender mailed lately)."""
        if input.kind == UNKNOWN and not self._first_in_a_while(input.context.get("sender", "")):
            UNKNOWN_SENDER_MAILS.labels("held").inc()
            return NotifyResult(message_id="", recipients=0)
        if input.kind == UNKNOWN:
            UNKNOWN_SENDER_MAILS.labels("mailed").inc()
        try:
            message_id, recipients = self._mailer.send(input)
        except (NoTemplate, NoRecipient) as error:
            template = isinstance(error, NoTemplate)
            kind = ErrorType.NO_TEMPLATE if template else ErrorType.NO_RECIPIENT
            raise ApplicationError(str(error), type=kind, non_retryable=True) from error
        return NotifyResult(message_id=message_id, recipients=recipients)

    def _first_in_a_while(self, sender: str) -> bool:
        """Claim the mail about `sender` (True), or count one more held back (False). One
        conditional UPDATE or INSERT: two workers cannot both claim it."""
        if self._engine is None or not sender:
            return True
        now = utcnow()
        with Session(self._engine) as session:
            claimed = session.execute(
                update(UnknownSender)
                .where(col(UnknownSender.sender) == sender)
                .where(col(UnknownSender.mailed_at) <= now - self._every)
                .values(mailed_at=now, unmailed=0)
            )
            if claimed.rowcount:  # type: ignore[attr-defined]
                session.commit()
                return True
            if session.get(UnknownSender, sender) is None:
                session.add(UnknownSender(sender=sender, mailed_at=now))
                try:
                    session.commit()
                    return True
                except IntegrityError:  # another worker claimed it a moment ago
                    session.rollback()
            session.execute(
                update(UnknownSender)
                .where(col(UnknownSender.sender) == sender)
                .values(unmailed=col(UnknownSender.unmailed) + 1)
            )
            session.commit()
        return False
