"""The `upload_pdf` step: hand Dify a signed, expiring URL of the contract in the blob store."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.errors import ErrorType
from models.results import UploadInput, UploadResult
from settings import Settings
from storage.blobs import Blobs
from storage.signed_urls import contract_url


class FileActivities:
    """Publishes stored PDFs to Dify through signed, expiring URLs of our API."""

    def __init__(self, store: Blobs, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    @activity.defn
    def upload_pdf(self, input: UploadInput) -> UploadResult:
        """Check the contract file is in the blob store and hand out its signed URL."""
        if not self._store.exists(input.sha256):
            raise ApplicationError(
                f"attachment {input.sha256[:12]} is not in the blob store",
                type=ErrorType.FILE_UPLOAD_FAILED,
                non_retryable=True,
            )
        file_id, url = contract_url(self._settings, input.sha256, input.content_type)
        return UploadResult(file_id=file_id, file_url=url)
