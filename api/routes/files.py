"""Signed, expiring file URLs for Dify (which cannot send our API key)."""

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from api.attachments import INLINE_BYTES
from api.deps import BlobsDep, SettingsDep
from models.email import READABLE
from storage.signed_urls import verify_file_signature

router = APIRouter(tags=["files"])
MEDIA_TYPES = {extension: content_type for content_type, (_, extension) in READABLE.items()}


@router.get("/files/{file_id}", response_class=FileResponse)
async def get_file(
    file_id: str, expires: int, signature: str, settings: SettingsDep, blobs: BlobsDep
) -> Response:
    """A stored contract file, authorised by the HMAC signature and expiry in its URL.

    A small file is read and sent in one go on the event loop; a big one is streamed from a
    thread (FileResponse), which costs a few thread hops but never blocks the loop.
    """
    if not verify_file_signature(file_id, expires, signature, settings.file_url_secret):
        raise HTTPException(403, "invalid or expired file signature")
    digest, _, extension = file_id.partition(".")
    media_type = MEDIA_TYPES.get(extension, "application/octet-stream")
    disposition = f'attachment; filename="{file_id}"'
    try:
        path = blobs.local_path(digest)
        if path is None:  # a shared store: read through it
            data = await run_in_threadpool(blobs.read, digest)
            headers = {"Content-Disposition": disposition}
            return Response(data, media_type=media_type, headers=headers)
        stat = path.stat()
    except (ValueError, FileNotFoundError) as error:
        raise HTTPException(404, "no such file") from error
    if stat.st_size > INLINE_BYTES:
        return FileResponse(path, media_type=media_type, filename=file_id, stat_result=stat)
    return Response(
        path.read_bytes(),
        media_type=media_type,
        headers={"Content-Disposition": disposition},
    )
