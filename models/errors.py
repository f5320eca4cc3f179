"""The `type` of every ApplicationError our activities raise: failures are classified once, in
the activity, and the retry policies and the workflow read these names, never a typed string."""

from enum import StrEnum


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
