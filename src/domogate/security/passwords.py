"""Password hashing with Argon2id (argon2-cffi).

The cost parameters are configuration (:class:`domogate.settings.Argon2Parameters`, also
importable from here): production uses argon2-cffi's RFC 9106 low-memory
profile; tests pass cheap parameters explicitly. Parameters are recorded in every hash, so
hashes made with other parameters still verify.
"""

from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters
from argon2 import exceptions as argon2_exceptions

from domogate.settings import Argon2Parameters

__all__ = ["Argon2Parameters", "Passwords", "is_well_formed_hash"]


class Passwords:
    """Hash and verify passwords; verifying against no hash costs the same as a real one."""

    def __init__(self, parameters: Argon2Parameters | None = None) -> None:
        p = parameters or Argon2Parameters()
        self._hasher = PasswordHasher(
            time_cost=p.time_cost, memory_cost=p.memory_cost, parallelism=p.parallelism
        )
        # Hash of a random unknowable password, verified against when the user is unknown
        # so that "unknown user" and "wrong password" cost the same.
        self._dummy_hash = self._hasher.hash("domogate-dummy-password-never-matches")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; ``password_hash=None`` spends the same time."""
        target = password_hash or self._dummy_hash
        try:
            ok = self._hasher.verify(target, password)
        except (argon2_exceptions.VerificationError, argon2_exceptions.InvalidHashError):
            return False
        return ok and password_hash is not None

    @staticmethod
    def looks_like_hash(value: str) -> bool:
        return value.startswith("$argon2id$")

    @staticmethod
    def is_well_formed_hash(value: str) -> bool:
        """The project model's format check of password hashes (see the function)."""
        return is_well_formed_hash(value)


def is_well_formed_hash(value: str) -> bool:
    """Whether ``value`` parses as an Argon2 hash with a salt of 8 bytes or more and a hash of
    16 bytes or more (the project model's check of password hashes, injected by the adapter
    that loads projects: ``validate_project_data(..., hash_format=is_well_formed_hash)``)."""
    try:
        parameters = extract_parameters(value)
    except argon2_exceptions.InvalidHashError:
        return False
    return parameters.salt_len >= 8 and parameters.hash_len >= 16
