"""Sealing: authenticated encryption of small secrets kept at rest.

Used for the copy of a pending OTP that admins may display again (the OTP itself is
only stored as a keyed digest). AES-256-GCM with a random 96-bit nonce prepended to the
ciphertext; the key comes from the server secret (``DataDir.derive_key``).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domogate.errors import InvalidInput

KEY_SIZE = 32
NONCE_SIZE = 12
_TAG_SIZE = 16
_AAD = b"domogate-sealed-v1"


class Sealer:
    """Seal and open short text values with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"a sealing key is {KEY_SIZE} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, plaintext: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), _AAD)

    def open(self, sealed: bytes) -> str:
        if len(sealed) < NONCE_SIZE + _TAG_SIZE:
            raise InvalidInput("The sealed value is truncated.")
        nonce, ciphertext = sealed[:NONCE_SIZE], sealed[NONCE_SIZE:]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, _AAD)
        except InvalidTag as exc:
            raise InvalidInput("The sealed value was altered or sealed with another key.") from exc
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError as exc:  # pragma: no cover - only with a forged key
            raise InvalidInput("The sealed value is not text.") from exc
