"""The default Argon2 parameters (written out in ``domogate.settings``, which does not import
argon2) are argon2-cffi's RFC 9106 low-memory profile."""

from __future__ import annotations

from argon2.profiles import RFC_9106_LOW_MEMORY

from domogate.security import passwords
from domogate.settings import Argon2Parameters


def test_the_defaults_are_rfc_9106_low_memory() -> None:
    p = Argon2Parameters()
    assert (p.time_cost, p.memory_cost, p.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
    )


def test_the_parameters_are_still_importable_from_security() -> None:
    assert passwords.Argon2Parameters is Argon2Parameters
