"""Token buckets for throttling guesses; time comes in as ``now`` (seconds, monotonic).

A bucket of ``capacity`` tokens refilled at ``rate`` tokens per second admits at most
``capacity + rate * T`` attempts over any window of ``T`` seconds; ``docs/security.md``
turns that into the bound on guessing a pending OTP.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    rate: float  # tokens per second

    def max_attempts(self, window_s: float) -> float:
        return self.capacity + self.rate * window_s


@dataclass
class TokenBucket:
    spec: BucketSpec
    tokens: float
    updated: float

    @classmethod
    def full(cls, spec: BucketSpec, now: float) -> TokenBucket:
        return cls(spec, spec.capacity, now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(
                self.spec.capacity, self.tokens + (now - self.updated) * self.spec.rate
            )
            self.updated = now

    def retry_after(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        self._refill(now)
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.spec.rate

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.spec.capacity
