"""The notify step: mails to the salespeople and reviewers (rendered and sent by mail.send)."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from mail.send import Mailer, NoRecipient, NoTemplate
from models.errors import ErrorType
from models.results import NotifyInput, NotifyResult
from settings import Settings


class NotifyActivities:
    """Sends notification mails; a mail without template or recipient is not retried."""

    def __init__(self, settings: Settings) -> None:
        self._mailer = Mailer(settings)

    @activity.defn
    def notify_sales(self, input: NotifyInput) -> NotifyResult:
        """Send one notification mail."""
        try:
            message_id, recipients = self._mailer.send(input)
        except (NoTemplate, NoRecipient) as error:
            template = isinstance(error, NoTemplate)
            kind = ErrorType.NO_TEMPLATE if template else ErrorType.NO_RECIPIENT
            raise ApplicationError(str(error), type=kind, non_retryable=True) from error
        return NotifyResult(message_id=message_id, recipients=recipients)
