"""The one test with production Argon2id cost: unknown user and wrong password cost the same."""

from __future__ import annotations

import statistics
import time

from domogate.security.passwords import Argon2Parameters, Passwords


def _interleaved_medians(a, b, rounds: int = 7) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median time of ``a`` and of ``b``, measured alternately so that both see the same
    load on a shared machine."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, out in ((a, times[0]), (b, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def test_production_hash_parameters_and_equal_cost() -> None:
    passwords = Passwords(Argon2Parameters())
    real = passwords.hash("the right password")
    assert real.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(real, "the right password")

    wrong, unknown = _interleaved_medians(
        lambda: passwords.verify(real, "a wrong password"),
        lambda: passwords.verify(None, "a wrong password"),
    )
    assert not passwords.verify(None, "domogate-dummy-password-never-matches")
    assert wrong > 0.01  # really the production cost, not a test profile
    ratio = unknown / wrong
    assert 0.6 < ratio < 1.6, (unknown, wrong)
