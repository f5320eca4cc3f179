"""AES-GCM payload encryption for Temporal, with key ids so that old keys still decrypt."""

import base64
import dataclasses
import functools
import os
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
NONCE_BYTES = 12


def parse_keys(spec: str) -> dict[str, bytes]:
    """`id:base64key[,id:base64key...]`; the first key encrypts, every key decrypts."""
    keys: dict[str, bytes] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        key_id, separator, encoded = entry.partition(":")
        if not separator or not key_id:
            raise ValueError("MCS_PAYLOAD_KEY entries look like id:base64key")
        key = base64.b64decode(encoded, validate=True)
        if len(key) not in (16, 24, 32):
            raise ValueError(f"key {key_id!r} must be 16, 24 or 32 bytes, not {len(key)}")
        keys[key_id] = key
    return keys


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload with the first key; decrypts with whichever key id it names."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise ValueError("no payload key")
        self._current = next(iter(keys))
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), None)
            metadata = {"encoding": ENCODING, "encryption-key-id": self._current.encode()}
            encoded.append(Payload(metadata=metadata, data=data))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get("encryption-key-id", b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"no key {key_id!r} to decrypt this payload (MCS_PAYLOAD_KEY)")
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
            decoded.append(Payload.FromString(plain))
        return decoded


@functools.lru_cache(maxsize=1024)
def _type_adapter(type_hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_hint)


class _SharedAdapterJSONConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON whose type adapters outlive the converter.

    The SDK builds a new payload converter for every workflow activation, so the stock per-instance
    cache was always empty and each dataclass schema was generated again (8% of worker CPU).
    """

    def __init__(self) -> None:
        super().__init__(max_cached_type_adapters=0)

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = Any if type_hint is None else type_hint
        try:
            adapter = _type_adapter(hint)
        except TypeError:  # an unhashable hint cannot be cached
            adapter = TypeAdapter(hint)
        return adapter.validate_json(payload.data)


_CONVERTERS = tuple(
    _SharedAdapterJSONConverter() if isinstance(c, JSONPlainPayloadConverter) else c
    for c in DefaultPayloadConverter.default_encoding_payload_converters
)


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default converters, with pydantic for JSON (models, dataclasses, datetimes).

    The encoding converters are stateless and built once: this class is instantiated per activation.
    """

    def __init__(self) -> None:
        super().__init__(*_CONVERTERS)


PLAIN_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)


def data_converter(payload_key: str = "") -> DataConverter:
    """The pydantic converter, encrypted when MCS_PAYLOAD_KEY is set."""
    if not payload_key:
        return PLAIN_CONVERTER
    codec = EncryptionCodec(parse_keys(payload_key))
    return dataclasses.replace(
        PLAIN_CONVERTER,
        payload_codec=codec,
        # failure messages and stack traces are encrypted too (an LLM's answer, a validation
        # error with input values): the history shows "Encoded failure" without the key
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
