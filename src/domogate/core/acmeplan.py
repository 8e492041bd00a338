"""When the home server asks its ACME directory for a certificate for its cloud name:
pure rules over an injected time and randomness (``cloud/acme/`` runs them).

- No usable certificate (none, for another name, not yet or no longer valid): now.
- A usable one: once less than :attr:`AcmePolicy.renew_fraction` of its lifetime is left
  (a third by default: a 90-day certificate is renewed 30 days before it ends).
- Once due, after ``failures`` attempts in a row failed: the last failure plus a capped
  exponential delay with half jitter (``retry_base_s`` doubling up to ``retry_cap_s``), so
  a certificate close to its end is tried again at least every ``retry_cap_s``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domogate.core.backoff import backoff_ceiling


@dataclass(frozen=True)
class AcmePolicy:
    """How early to renew and how to back off after failures."""

    renew_fraction: float = 1 / 3  # renew when less than this part of the lifetime is left
    retry_base_s: float = 15.0
    retry_cap_s: float = 6 * 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.renew_fraction < 1:
            raise ValueError("renew_fraction must be between 0 and 1")
        if self.retry_base_s <= 0 or self.retry_cap_s < self.retry_base_s:
            raise ValueError("retry_base_s must be > 0 and retry_cap_s >= retry_base_s")


@dataclass(frozen=True)
class Lifetime:
    """What planning needs of a held certificate."""

    names: tuple[str, ...]  # its DNS subject alternative names, lower case
    not_before: datetime
    not_after: datetime


def usable(held: Lifetime | None, host: str, now: datetime) -> bool:
    """True when ``held`` names ``host`` and is valid at ``now``."""
    return (
        held is not None and host.lower() in held.names and held.not_before <= now < held.not_after
    )


def renew_at(held: Lifetime, policy: AcmePolicy) -> datetime:
    """When less than ``policy.renew_fraction`` of ``held``'s lifetime is left."""
    lifetime = held.not_after - held.not_before
    return held.not_after - lifetime * policy.renew_fraction


def retry_delay(failures: int, random: Callable[[], float], policy: AcmePolicy) -> float:
    """Seconds to wait after ``failures`` (≥ 1) failed attempts in a row: half jitter
    over ``retry_base_s`` doubling, capped (``random()`` in [0, 1))."""
    if failures < 1:
        raise ValueError("failures must be >= 1")
    ceiling = backoff_ceiling(failures - 1, policy.retry_base_s, policy.retry_cap_s)
    return ceiling / 2 + random() * ceiling / 2


def next_attempt(
    *,
    now: datetime,
    host: str,
    held: Lifetime | None,
    failures: int,
    last_failure: datetime | None,
    policy: AcmePolicy,
    random: Callable[[], float],
) -> datetime:
    """When to ask for a (new) certificate for ``host`` (see the module's docstring); a
    time at or before ``now`` means at once."""
    if held is not None and usable(held, host, now):
        due = renew_at(held, policy)
        if due > now:
            return due
    if failures > 0 and last_failure is not None:
        return last_failure + timedelta(seconds=retry_delay(failures, random, policy))
    return now
