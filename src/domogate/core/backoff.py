"""Capped exponential backoff with full jitter: how long to wait before a new attempt
(the cloud link's reconnections; randomness is injected)."""

from __future__ import annotations

from collections.abc import Callable

BASE_S = 0.5
CAP_S = 30.0


def backoff_ceiling(attempt: int, base: float = BASE_S, cap: float = CAP_S) -> float:
    """The longest wait before attempt ``attempt`` (0 first): ``base`` doubling, capped."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if attempt > 64:  # 2**64 * base is past any cap; keeps the arithmetic in floats
        return cap
    return float(min(cap, base * 2**attempt))


def backoff_delay(
    attempt: int, random: Callable[[], float], base: float = BASE_S, cap: float = CAP_S
) -> float:
    """Full jitter: uniform in ``[0, backoff_ceiling(attempt))``, ``random()`` in [0, 1)."""
    return random() * backoff_ceiling(attempt, base, cap)
