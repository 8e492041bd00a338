"""core/devicekeys.py: P-256 keys, the challenge bound to the server, verification."""

from __future__ import annotations

import pytest

from domogate.core import devicekeys
from domogate.errors import InvalidInput


def test_a_signature_verifies_for_its_key_and_message_only() -> None:
    key = devicekeys.generate_private_key()
    public = devicekeys.public_key_of(key)
    message = devicekeys.challenge_message("srv-a", "dev-1", "ch")
    signature = devicekeys.sign(key, message)
    assert devicekeys.verify(public, message, signature)
    other = devicekeys.public_key_of(devicekeys.generate_private_key())
    assert not devicekeys.verify(other, message, signature)
    # Bound to the server: the same signature is worthless at another server.
    assert not devicekeys.verify(
        public, devicekeys.challenge_message("srv-b", "dev-1", "ch"), signature
    )
    assert not devicekeys.verify(public, message, "not base64!")


def test_the_challenge_message_names_server_device_and_challenge() -> None:
    assert devicekeys.challenge_message("s", "d", "c") == b"domogate-sign-in\ns\nd\nc"


def test_malformed_public_keys_are_input_errors() -> None:
    for bad in ("", "AAAA", "x" * 600):
        with pytest.raises(InvalidInput):
            devicekeys.load_public_key(bad)
