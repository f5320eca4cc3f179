"""The codec server of the Temporal Web UI: decode (and encode) payloads with our keys."""

from typing import Annotated

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.deps import SettingsDep, allow
from models.codec import EncryptionCodec, parse_keys

router = APIRouter(prefix="/codec", tags=["codec"])
ALLOWED_HEADERS = "content-type,x-namespace,authorization,authorization-extras"


def _cors(request: Request, response: Response, origins: list[str]) -> None:
    origin = request.headers.get("origin", "")
    if origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"


@router.options("/{operation}")
def preflight(operation: str, request: Request, settings: SettingsDep) -> Response:
    """CORS preflight, answered for the Web UI's origins only."""
    response = Response(status_code=204)
    _cors(request, response, settings.ui_origins)
    return response


async def codec_caller(
    request: Request,
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """In production the codec needs a key with the scope `codec` (X-API-Key, or the Web UI's
    `Authorization: Bearer`); the embedded dev stack's Web UI sends none, so dev leaves it open."""
    if settings.production:
        await allow("codec")(settings, x_api_key, authorization)


@router.post("/{operation}", dependencies=[Depends(codec_caller)])
async def transcode(operation: str, request: Request, settings: SettingsDep) -> Response:
    """`/codec/encode` or `/codec/decode`: `{"payloads": [...]}` in, the same shape out."""
    if operation not in ("encode", "decode"):
        raise HTTPException(404, "use /codec/encode or /codec/decode")
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError as error:
        raise HTTPException(422, f"not a Payloads JSON document: {error}") from error
    if settings.payload_key:
        codec = EncryptionCodec(parse_keys(settings.payload_key))
        step = codec.encode if operation == "encode" else codec.decode
        try:
            payloads = Payloads(payloads=await step(payloads.payloads))
        except (ValueError, InvalidTag) as error:
            raise HTTPException(
                422, f"cannot {operation}: {error or 'payload tampered'}"
            ) from error
    response = Response(json_format.MessageToJson(payloads), media_type="application/json")
    _cors(request, response, settings.ui_origins)
    return response
