"""Signed, expiring file URLs for Dify (which cannot send our API key)."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from activities.files import verify_file_signature
from api.deps import BlobsDep, SettingsDep

router = APIRouter(tags=["files"])


@router.get("/files/{file_id}", response_class=FileResponse)
def get_file(
    file_id: str, expires: int, signature: str, settings: SettingsDep, blobs: BlobsDep
) -> FileResponse:
    """A stored PDF, authorised by the HMAC signature and expiry in its URL."""
    if not verify_file_signature(file_id, expires, signature, settings.file_url_secret):
        raise HTTPException(403, "invalid or expired file signature")
    digest = file_id.removesuffix(".pdf")
    try:
        path = blobs.path(digest)
    except ValueError as error:
        raise HTTPException(404, "no such file") from error
    if not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(path, media_type="application/pdf", filename=file_id)
