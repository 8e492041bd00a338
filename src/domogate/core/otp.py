"""One-time passwords: generation, normalisation, display, keyed digest.

Pure functions; randomness comes in as ``randbelow`` (``secrets.randbelow`` in production,
a seeded source in tests) and the digest key is passed explicitly. The bounds here (length
of what may be typed, validity) are the only ones: the API's schema is derived from them.

Default format: 10 characters from an unambiguous 20-letter alphabet (no I, O, Q, S, Z, B
that read as digits), shown as two groups of five: 20**10 ≈ 1.02e13 ≈ 2**43.2.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta

from domogate.errors import InvalidInput

ALPHABET = "ACDEFGHJKLMNPRTUVWXY"
LENGTH = 10
GROUP = 5
SPACE_SIZE = len(ALPHABET) ** LENGTH
MAX_TYPED = 64
"""The most characters of a typed OTP that are read (room for spaces, dashes, a paste)."""
MIN_VALIDITY_S = 1
"""The shortest validity of an OTP, in seconds."""

_IGNORED = str.maketrans("", "", " -_\t\n\r.")


def generate(randbelow: Callable[[int], int], length: int = LENGTH) -> str:
    """A fresh OTP in canonical form (upper case, no separators)."""
    return "".join(ALPHABET[randbelow(len(ALPHABET))] for _ in range(length))


def normalise(typed: str) -> str:
    """Canonical form of what a person typed: case-insensitive, spaces/dashes ignored."""
    return typed.translate(_IGNORED).upper()


def read_typed(typed: str) -> str:
    """Canonical form of what a person typed as an OTP, of which at most ``MAX_TYPED``
    characters are read (any longer text is not an OTP and costs nothing more)."""
    return normalise(typed[:MAX_TYPED])


def is_well_formed(canonical: str, length: int = LENGTH) -> bool:
    return len(canonical) == length and all(c in ALPHABET for c in canonical)


def display(canonical: str) -> str:
    """``ABCDEFGHJK`` → ``ABCDE-FGHJK``."""
    return "-".join(canonical[i : i + GROUP] for i in range(0, len(canonical), GROUP))


def digest(key: bytes, canonical: str) -> str:
    """Keyed digest stored at rest instead of the OTP (HMAC-SHA256, hex)."""
    return hmac.new(
        key, b"domogate-otp\x00" + canonical.encode("ascii"), hashlib.sha256
    ).hexdigest()


def check_validity(validity: timedelta, maximum: timedelta) -> timedelta:
    """``validity`` if an OTP may be valid that long (``MIN_VALIDITY_S`` up to ``maximum``,
    the server's ``otp_max_validity``); ``InvalidInput`` on ``valid_for_s`` otherwise."""
    if validity < timedelta(seconds=MIN_VALIDITY_S):
        raise InvalidInput("The validity must be at least one second.", field="valid_for_s")
    if validity > maximum:
        raise InvalidInput(
            f"A one-time password may be valid for at most {maximum.total_seconds() / 3600:g} "
            f"hours ({int(maximum.total_seconds())} seconds).",
            field="valid_for_s",
        )
    return validity
