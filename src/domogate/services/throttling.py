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

    def is_full(self, key: str, now: float) -> bool:
        """True when ``key`` has not spent anything lately (never seen, or refilled)."""
        bucket = self._buckets.get(key)
        return bucket is None or bucket.is_full(now)

    def refund(self, key: str, now: float) -> None:
        """Give back one attempt (e.g. a reserved attempt that succeeded)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.refund(now)

    def try_take(self, key: str, now: float) -> bool:
        """Consume one attempt if there is one; never raises."""
        return self._bucket(key, now).take(now)

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


class OtpBudget:
    """OTP guesses: every attempt is charged to its source; well-formed guesses also to a
    global budget in two parts, a shared one and a reserve that only sources without a
    recent failure (their bucket full) may fall back on once flooders emptied the shared
    part. The total is what bounds guessing (``docs/security.md``):
    ``shared.max_attempts(T) + reserve.max_attempts(T)`` over any window ``T``."""

    GLOBAL = "*"

    def __init__(self, per_source: BucketSpec, shared: BucketSpec, reserve: BucketSpec) -> None:
        self._source = KeyedBuckets(per_source)
        self._shared = KeyedBuckets(shared, max_keys=1)
        self._reserve = KeyedBuckets(reserve, max_keys=1)

    def take(self, source: str, now: float, *, well_formed: bool) -> None:
        if not well_formed:  # cannot hit an OTP: costs no one else anything
            take_all(now, (self._source, source))
            return
        clean = self._source.is_full(source, now)
        try:
            take_all(now, (self._source, source), (self._shared, self.GLOBAL))
        except RateLimited:
            if not clean:
                # A refused attempt costs its source too, so that polling the shared
                # budget never makes a flooder look like a newcomer.
                self._source.try_take(source, now)
                raise
            take_all(now, (self._source, source), (self._reserve, self.GLOBAL))

    @staticmethod
    def max_guesses(shared: BucketSpec, reserve: BucketSpec, window_s: float) -> float:
        return shared.max_attempts(window_s) + reserve.max_attempts(window_s)
