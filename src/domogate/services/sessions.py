"""Sessions (short-lived bearer tokens held in memory) and presence (live connections).

Sessions live only in the server's memory: a restart ends them all and devices sign in
again with their keys. Tokens are 256-bit random values; only their SHA-256 is kept.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domogate.core.accounts import ConnectionPath
from domogate.errors import Unauthenticated


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: str
    device_id: str
    path: ConnectionPath
    source: str
    created_at: datetime
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionRegistry:
    def __init__(self, ttl: timedelta, token_source: Callable[[], str] | None = None) -> None:
        self.ttl = ttl
        self._token_source = token_source or (lambda: secrets.token_urlsafe(32))
        self._by_hash: dict[str, Session] = {}
        self._by_device: defaultdict[str, set[str]] = defaultdict(set)

    def open(
        self, user_id: str, device_id: str, path: ConnectionPath, source: str, now: datetime
    ) -> tuple[str, Session]:
        token = self._token_source()
        session = Session(_hash(token), user_id, device_id, path, source, now, now + self.ttl)
        self._by_hash[session.token_hash] = session
        self._by_device[device_id].add(session.token_hash)
        return token, session

    def get(self, token: str, now: datetime) -> Session:
        session = self._by_hash.get(_hash(token))
        if session is None:
            raise Unauthenticated()
        if now >= session.expires_at:
            self._drop(session.token_hash)
            raise Unauthenticated("Session expired; sign in again.")
        return session

    def is_open(self, token_hash: str, now: datetime) -> bool:
        session = self._by_hash.get(token_hash)
        return session is not None and now < session.expires_at

    def close(self, token: str) -> None:
        self._drop(_hash(token))

    def close_devices(self, device_ids: set[str] | frozenset[str]) -> int:
        count = 0
        for device_id in device_ids:
            for token_hash in list(self._by_device.get(device_id, ())):
                self._drop(token_hash)
                count += 1
        return count

    def purge_expired(self, now: datetime) -> None:
        for token_hash in [h for h, s in self._by_hash.items() if now >= s.expires_at]:
            self._drop(token_hash)

    def _drop(self, token_hash: str) -> None:
        session = self._by_hash.pop(token_hash, None)
        if session is not None:
            tokens = self._by_device.get(session.device_id)
            if tokens is not None:
                tokens.discard(token_hash)
                if not tokens:
                    del self._by_device[session.device_id]


class Presence:
    """Which devices have a live connection right now, and by which path."""

    def __init__(self) -> None:
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._paths: dict[str, ConnectionPath] = {}

    def connected(self, device_id: str, path: ConnectionPath) -> bool:
        """Returns True when the device just came online."""
        self._counts[device_id] += 1
        self._paths[device_id] = path
        return self._counts[device_id] == 1

    def disconnected(self, device_id: str) -> bool:
        """Returns True when the device just went offline."""
        if device_id not in self._counts:
            return False
        self._counts[device_id] -= 1
        if self._counts[device_id] <= 0:
            del self._counts[device_id]
            self._paths.pop(device_id, None)
            return True
        return False

    def online(self) -> frozenset[str]:
        return frozenset(self._counts)

    def path_of(self, device_id: str) -> ConnectionPath | None:
        return self._paths.get(device_id)
