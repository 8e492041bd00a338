"""Token buckets for throttling guesses; time comes in as ``now`` (seconds, monotonic).

A bucket of ``capacity`` tokens refilled at ``rate`` tokens per second admits at most
``capacity + rate * T`` attempts over any window of ``T`` seconds; ``docs/security.md``
turns that into the bound on guessing a pending OTP.
"""

from __future__ import annotations

import ipaddress
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

    def refund(self, now: float) -> None:
        self._refill(now)
        self.tokens = min(self.spec.capacity, self.tokens + 1)

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.spec.capacity


def source_key(address: str) -> str:
    """The throttling key of a network address: IPv4 as is, IPv6 by its /64 prefix (one
    host usually owns a whole /64, so per-address buckets would be free to multiply)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
