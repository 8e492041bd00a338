"""One table of expiring tokens: sessions, maintenance sessions and device challenges.

Each has a constant lifetime, so insertion order is expiry order: expired entries leave
from the front, and at the cap the oldest gives way. Keys are what the caller chooses:
the SHA-256 of a bearer token (:func:`digest`; the token itself is never kept), or a
single-use challenge as it is.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Generic, TypeVar

V = TypeVar("V")


def digest(token: str) -> str:
    """What is kept of a bearer token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class ExpiringTokens(Generic[V]):
    def __init__(self, ttl: timedelta, *, max_live: int | None = None) -> None:
        self.ttl = ttl
        self._max_live = max_live
        self._entries: OrderedDict[str, tuple[V, datetime]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def add(self, key: str, value: V, now: datetime, *, cap: int | None = None) -> datetime:
        """Keep ``value`` under ``key`` for the table's lifetime; its expiry. At the cap
        (``cap``, else the table's), the oldest entries give way."""
        self.purge(now)
        limit = cap if cap is not None else self._max_live
        while limit is not None and len(self._entries) >= limit:
            self._entries.popitem(last=False)
        expires = now + self.ttl
        self._entries[key] = (value, expires)
        return expires

    def get(self, key: str, now: datetime) -> V | None:
        """The live value under ``key``, or None (unknown, or expired: then dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[1]:
            del self._entries[key]
            return None
        return entry[0]

    def peek(self, key: str) -> tuple[V, datetime] | None:
        """The entry under ``key`` whether expired or not (the caller decides)."""
        return self._entries.get(key)

    def take(self, key: str, now: datetime) -> V | None:
        """Remove the entry under ``key``; its value if it was still live (single use)."""
        entry = self._entries.pop(key, None)
        if entry is None or now >= entry[1]:
            return None
        return entry[0]

    def discard(self, key: str) -> V | None:
        entry = self._entries.pop(key, None)
        return entry[0] if entry is not None else None

    def purge(self, now: datetime) -> list[V]:
        """Drop every expired entry; their values."""
        gone: list[V] = []
        while self._entries:
            key, (value, expires) = next(iter(self._entries.items()))
            if expires > now:
                break
            del self._entries[key]
            gone.append(value)
        return gone
