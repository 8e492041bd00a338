"""Sessions (short-lived bearer tokens held in memory) and presence (live connections).

Sessions live only in the server's memory: a restart ends them all and devices sign in
again with their keys. Tokens are 256-bit random values; only their SHA-256 is kept.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from domogate.core.accounts import ConnectionPath
from domogate.errors import Unauthenticated
from domogate.services.ports import TokenSource
from domogate.services.tokens import ExpiringTokens, digest


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: str
    device_id: str
    path: ConnectionPath
    source: str
    created_at: datetime
    expires_at: datetime


def _new_token() -> str:
    return secrets.token_urlsafe(32)


class SessionRegistry:
    def __init__(self, ttl: timedelta, token_source: TokenSource | None = None) -> None:
        self.ttl = ttl
        self._token_source = token_source or _new_token
        self._table: ExpiringTokens[Session] = ExpiringTokens(ttl)
        self._by_device: defaultdict[str, set[str]] = defaultdict(set)

    def open(
        self, user_id: str, device_id: str, path: ConnectionPath, source: str, now: datetime
    ) -> tuple[str, Session]:
        token = self._token_source()
        session = Session(digest(token), user_id, device_id, path, source, now, now + self.ttl)
        for gone in self._table.purge(now):
            self._unindex(gone)
        self._table.add(session.token_hash, session, now)
        self._by_device[device_id].add(session.token_hash)
        return token, session

    def get(self, token: str, now: datetime) -> Session:
        token_hash = digest(token)
        entry = self._table.peek(token_hash)
        if entry is None:
            raise Unauthenticated()
        if now >= entry[1]:
            self.drop(token_hash)
            raise Unauthenticated("Session expired; sign in again.")
        return entry[0]

    def is_open(self, token_hash: str, now: datetime) -> bool:
        entry = self._table.peek(token_hash)
        return entry is not None and now < entry[1]

    def close(self, token: str) -> Session | None:
        return self.drop(digest(token))

    def close_devices(self, device_ids: set[str] | frozenset[str]) -> list[Session]:
        closed: list[Session] = []
        for device_id in device_ids:
            for token_hash in list(self._by_device.get(device_id, ())):
                session = self.drop(token_hash)
                if session is not None:
                    closed.append(session)
        return closed

    def purge_expired(self, now: datetime) -> list[Session]:
        gone = self._table.purge(now)
        for session in gone:
            self._unindex(session)
        return gone

    def drop(self, token_hash: str) -> Session | None:
        session = self._table.discard(token_hash)
        if session is not None:
            self._unindex(session)
        return session

    def _unindex(self, session: Session) -> None:
        tokens = self._by_device.get(session.device_id)
        if tokens is not None:
            tokens.discard(session.token_hash)
            if not tokens:
                del self._by_device[session.device_id]


class Presence:
    """Which devices have a live connection right now, and by which path. A device may
    hold one on each path for a moment (a page switching paths keeps the other warm): the
    path shown is the one it connected on last among those still open."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[ConnectionPath, int]] = {}
        self._paths: dict[str, ConnectionPath] = {}

    def connected(self, device_id: str, path: ConnectionPath) -> bool:
        """A connection opened; True when what admins see changed (the device came online,
        or is now shown on another path)."""
        paths = self._counts.setdefault(device_id, {})
        paths[path] = paths.get(path, 0) + 1
        before = self._paths.get(device_id)
        self._paths[device_id] = path
        return before != path

    def disconnected(self, device_id: str, path: ConnectionPath) -> bool:
        """A connection on ``path`` closed; True when what admins see changed (the device
        went offline, or the path shown closed while the other is still open)."""
        paths = self._counts.get(device_id)
        if not paths or path not in paths:
            return False
        paths[path] -= 1
        if paths[path] <= 0:
            del paths[path]
        if not paths:
            del self._counts[device_id]
            self._paths.pop(device_id, None)
            return True
        if self._paths.get(device_id) not in paths:
            self._paths[device_id] = next(iter(paths))
            return True
        return False

    def online(self) -> frozenset[str]:
        return frozenset(self._counts)

    def path_of(self, device_id: str) -> ConnectionPath | None:
        return self._paths.get(device_id)
