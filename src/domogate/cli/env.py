"""Settings the CLI reads from the environment (and only the CLI: inner layers get them
passed explicitly)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from domogate.errors import InvalidInput
from domogate.settings import Argon2Parameters

ARGON2_PROFILE_ENV = "DOMOGATE_ARGON2_PROFILE"
"""``test``: cheap Argon2id parameters (test suites only); unset or ``default``: RFC 9106."""


def argon2_parameters_from_env(environ: Mapping[str, str] | None = None) -> Argon2Parameters:
    """Argon2id cost parameters chosen by ``$DOMOGATE_ARGON2_PROFILE``."""
    env = os.environ if environ is None else environ
    profile = env.get(ARGON2_PROFILE_ENV, "").strip().lower()
    if profile in ("", "default"):
        return Argon2Parameters()
    if profile == "test":
        return Argon2Parameters.cheap_for_tests()
    raise InvalidInput(
        f"unknown {ARGON2_PROFILE_ENV} value {profile!r}; use 'default' or 'test' (tests only)"
    )
