"""Keyed token buckets over an injected monotonic clock."""

from __future__ import annotations

from collections import OrderedDict

from domogate.core.throttle import BucketSpec, TokenBucket
from domogate.errors import RateLimited


class KeyedBuckets:
    """One bucket per key (source address, account name), bounded in memory.

    When more than ``max_keys`` keys are tracked, full buckets are dropped first (they
    carry no information); if none is full the oldest is dropped.
    """

    def __init__(self, spec: BucketSpec, max_keys: int = 100_000) -> None:
        self.spec = spec
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = TokenBucket.full(self.spec, now)
            self._buckets[key] = bucket
        else:
            self._buckets.move_to_end(key)
        return bucket

    def _evict(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.is_full(now)]:
            del self._buckets[key]
        while len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)

    def retry_after(self, key: str, now: float) -> float:
        return self._bucket(key, now).retry_after(now)

    def refund(self, key: str, now: float) -> None:
        """Give back one attempt (e.g. a reserved attempt that succeeded)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.refund(now)

    def take(self, key: str, now: float) -> None:
        """Consume one attempt or raise ``RateLimited``."""
        bucket = self._bucket(key, now)
        if not bucket.take(now):
            raise RateLimited(bucket.retry_after(now))


def take_all(now: float, *pairs: tuple[KeyedBuckets, str]) -> None:
    """Take one token from each bucket, or none at all (raising with the longest wait)."""
    waits = [buckets.retry_after(key, now) for buckets, key in pairs]
    worst = max(waits, default=0.0)
    if worst > 0:
        raise RateLimited(worst)
    for buckets, key in pairs:
        buckets.take(key, now)
