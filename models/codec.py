"""AES-GCM payload encryption for Temporal, with key ids so that old keys still decrypt."""

import base64
import dataclasses
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

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


def data_converter(payload_key: str) -> DataConverter:
    """The pydantic converter, encrypted when MCS_PAYLOAD_KEY is set."""
    if not payload_key:
        return pydantic_data_converter
    codec = EncryptionCodec(parse_keys(payload_key))
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
