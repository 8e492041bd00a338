"""One-time passwords: generation, normalisation, display, keyed digest.

Pure functions; randomness comes in as ``randbelow`` (``secrets.randbelow`` in production,
a seeded source in tests) and the digest key is passed explicitly.

Default format: 10 characters from an unambiguous 20-letter alphabet (no I, O, Q, S, Z, B
that read as digits), shown as two groups of five: 20**10 ≈ 1.02e13 ≈ 2**43.2.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

ALPHABET = "ACDEFGHJKLMNPRTUVWXY"
LENGTH = 10
GROUP = 5
SPACE_SIZE = len(ALPHABET) ** LENGTH

_IGNORED = str.maketrans("", "", " -_\t\n\r.")


def generate(randbelow: Callable[[int], int], length: int = LENGTH) -> str:
    """A fresh OTP in canonical form (upper case, no separators)."""
    return "".join(ALPHABET[randbelow(len(ALPHABET))] for _ in range(length))


def normalise(typed: str) -> str:
    """Canonical form of what a person typed: case-insensitive, spaces/dashes ignored."""
    return typed.translate(_IGNORED).upper()


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
