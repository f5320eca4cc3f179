"""The `type` of every ApplicationError our activities raise: failures are classified once, in
the activity, and the retry policies and the workflow read these names, never a typed string."""

from enum import StrEnum

from pydantic import ValidationError


class ErrorType(StrEnum):
    MASTERDATA_INVALID = "MasterdataInvalid"
    UNKNOWN_CUSTOMER = "UnknownCustomer"
    FILE_UPLOAD_FAILED = "FileUploadFailed"
    DIFY_CLIENT_ERROR = "DifyClientError"
    DIFY_BAD_ANSWER = "DifyBadAnswer"
    DIFY_STREAM_ERROR = "DifyError"
    ERP_REJECTED = "ErpRejected"
    NO_TEMPLATE = "NoTemplate"
    NO_RECIPIENT = "NoRecipient"


def transient(error_type: ErrorType) -> str:
    """The type of the retryable twin of a failure (a 5xx or 429 where a 4xx would be final)."""
    return f"{error_type}Transient"


class Problem(Exception):
    """A request MCS cannot take as it is, in words for whoever sent it. Raised below the routes;
    the API answers each kind with its HTTP status in one handler (`api/main.py`)."""

    def __init__(self, message: str, detail: list[str] | None = None) -> None:
        super().__init__(message)
        self._detail = detail

    @property
    def detail(self) -> str | list[str]:
        """What the answer's `detail` says: the message, or the list of problems it gives."""
        return self._detail if self._detail is not None else str(self)


class Invalid(Problem):
    """The request cannot be right as it is (HTTP 422)."""


class TooLarge(Problem):
    """The request, or a file it names, is over a limit (HTTP 413)."""


class NotFound(Problem):
    """What the request names does not exist (HTTP 404)."""


class Forbidden(Problem):
    """The request proves no right to what it asks (HTTP 403)."""


class Conflict(Problem):
    """The request does not fit the state of what it names now (HTTP 409)."""


class Unavailable(Problem):
    """A system the request needs did not answer; it may work later (HTTP 503)."""


def first_error(error: ValidationError) -> str:
    """A pydantic error in one line: where the first problem is, and what it is."""
    first = error.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
