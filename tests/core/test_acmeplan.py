"""When the home server asks for a certificate for its cloud name (``core/acmeplan.py``):
on a fixed clock and fixed randomness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domogate.core.acmeplan import (
    AcmePolicy,
    Lifetime,
    next_attempt,
    renew_at,
    retry_delay,
    usable,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = AcmePolicy()
HOST = "abc.cloud.example.org"


def cert(days: float = 90, *, start: datetime = T0, names: tuple[str, ...] = (HOST,)) -> Lifetime:
    return Lifetime(names, start, start + timedelta(days=days))


def plan(
    now: datetime,
    held: Lifetime | None,
    failures: int = 0,
    last: datetime | None = None,
    *,
    rand: float = 0.0,
    policy: AcmePolicy = POLICY,
) -> datetime:
    return next_attempt(
        now=now,
        host=HOST,
        held=held,
        failures=failures,
        last_failure=last,
        policy=policy,
        random=lambda: rand,
    )


def test_no_certificate_means_now() -> None:
    assert plan(T0, None) == T0


def test_a_fresh_certificate_is_renewed_when_a_third_of_its_life_is_left() -> None:
    held = cert(90)
    assert renew_at(held, POLICY) == T0 + timedelta(days=60)
    assert plan(T0 + timedelta(days=1), held) == T0 + timedelta(days=60)
    assert plan(T0 + timedelta(days=61), held) == T0 + timedelta(days=61)  # due: now


def test_the_renew_window_is_a_setting() -> None:
    assert plan(T0, cert(90), policy=AcmePolicy(renew_fraction=0.5)) == T0 + timedelta(days=45)


@pytest.mark.parametrize(
    "held",
    [
        cert(90, names=("other.cloud.example.org",)),  # another name
        cert(90, start=T0 + timedelta(days=1)),  # not yet valid
        cert(10, start=T0 - timedelta(days=20)),  # expired
    ],
)
def test_an_unusable_certificate_means_now(held: Lifetime) -> None:
    assert not usable(held, HOST, T0)
    assert plan(T0, held) == T0


def test_names_compare_without_case() -> None:
    assert usable(cert(90), HOST.upper(), T0 + timedelta(seconds=1))


def test_failures_back_off_exponentially_with_half_jitter_and_a_cap() -> None:
    assert retry_delay(1, lambda: 0.0, POLICY) == 7.5
    assert retry_delay(1, lambda: 0.999999, POLICY) == pytest.approx(15.0, abs=1e-4)
    assert retry_delay(3, lambda: 0.0, POLICY) == 30.0  # 60 s ceiling
    assert retry_delay(40, lambda: 0.999999, POLICY) == pytest.approx(6 * 3600, rel=1e-5)
    last = T0 + timedelta(seconds=100)
    assert plan(T0 + timedelta(seconds=101), None, 2, last) == last + timedelta(seconds=15)
    with pytest.raises(ValueError):
        retry_delay(0, lambda: 0.0, POLICY)


def test_a_failed_renewal_retries_with_backoff_but_a_fresh_certificate_waits() -> None:
    held = cert(90)
    due = T0 + timedelta(days=60)
    last = due + timedelta(minutes=1)
    assert plan(last, held, 1, last) == last + timedelta(seconds=7.5)
    # A stale failure count (renewed since) does not pull a fresh certificate's renewal in.
    assert plan(T0 + timedelta(days=1), held, 3, T0) == due


@pytest.mark.parametrize(
    "kwargs",
    [
        {"renew_fraction": 0.0},
        {"renew_fraction": 1.0},
        {"retry_base_s": 0.0},
        {"retry_base_s": 10.0, "retry_cap_s": 5.0},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AcmePolicy(**kwargs)
