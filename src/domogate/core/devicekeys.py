"""Device keys: ECDSA P-256 public keys and challenge signatures.

Chosen for WebCrypto (non-extractable ECDSA P-256 keys in every browser). Public keys
travel as base64url SPKI DER; signatures as base64url raw ``r || s`` (64 bytes, the
WebCrypto format), over :func:`challenge_message`.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from domogate.errors import InvalidInput

MAX_PUBLIC_KEY_CHARS = 512


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("Malformed base64url value.") from exc


def challenge_message(server_id: str, device_id: str, challenge: str) -> bytes:
    """The exact bytes a device signs to sign in."""
    return f"domogate-sign-in\n{server_id}\n{device_id}\n{challenge}".encode()


def load_public_key(encoded: str) -> ec.EllipticCurvePublicKey:
    if not isinstance(encoded, str) or not encoded or len(encoded) > MAX_PUBLIC_KEY_CHARS:
        raise InvalidInput("The device public key is missing or too long.")
    try:
        key = serialization.load_der_public_key(b64url_decode(encoded))
    except ValueError as exc:
        raise InvalidInput("The device public key is not a valid SPKI key.") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput("The device public key must be ECDSA P-256.")
    return key


def verify(public_key: str, message: bytes, signature: str) -> bool:
    """True iff ``signature`` (base64url raw r||s) signs ``message`` with ``public_key``."""
    key = load_public_key(public_key)
    try:
        raw = b64url_decode(signature)
    except InvalidInput:
        return False
    if len(raw) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# --- the holder's side (Python client, tests) ------------------------------------------


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_of(private_key: ec.EllipticCurvePrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url_encode(der)


def sign(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA256())))
    return b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
