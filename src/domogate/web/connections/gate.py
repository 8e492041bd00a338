"""Counting: one :class:`Slot` per accepted socket, and the :class:`ConnectionGate` that
counts them in total and per source address and decides who comes in (closing idle
connections to make room)."""

from __future__ import annotations

import asyncio
import logging
import socket

from domogate.web.connections.limits import EffectiveLimits

log = logging.getLogger("domogate.connections")

MIN_BODY_RATE = 1024.0  # bytes per second a request body must average after the grace


class Slot:
    """One accepted socket, counted until :meth:`release` (called exactly once)."""

    __slots__ = (
        "body_bytes", "body_started", "gate", "key", "opened", "pending", "relayed_from",
        "released", "sock", "task", "timer", "transport",
    )  # fmt: skip

    def __init__(self, gate: ConnectionGate, key: str, opened: float) -> None:
        self.gate = gate
        self.key = key
        self.opened = opened
        self.pending = True  # no complete request head yet (may be closed to make room)
        self.released = False
        self.sock: socket.socket | None = None
        self.task: asyncio.Task[None] | None = None  # the TLS handshake under way
        self.timer: asyncio.TimerHandle | None = None  # the head deadline
        self.transport: asyncio.BaseTransport | None = None
        self.body_started: float | None = None  # monotonic, while a request body arrives
        self.body_bytes = 0
        # The origin marker: the client's real (host, port) when the socket came through
        # the cloud's relay (its attach line checked), None for a socket accepted here.
        self.relayed_from: tuple[str, int] | None = None

    def body_progress(self, nbytes: int) -> None:
        """A request body is arriving: it must keep coming. The deadline is the head
        timeout after the body began, plus one second per ``MIN_BODY_RATE`` bytes received
        (holding a socket open costs the sender bandwidth, not the server a slot)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.body_started is None:
            self.body_started = now
            self.body_bytes = 0
        self.body_bytes += nbytes
        deadline = (
            self.body_started + self.gate.limits.head_timeout_s + self.body_bytes / MIN_BODY_RATE
        )
        if self.timer is not None:
            self.timer.cancel()
        if not self.released:
            self.timer = loop.call_at(deadline, self.expire_body)

    def body_done(self) -> None:
        self.body_started = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def expire_body(self) -> None:
        self.timer = None
        log.debug("closing a connection from %s: its request body stalled", self.key)
        self.close()

    def arm(self) -> None:
        """Start the head deadline (if not running)."""
        if self.timer is None and not self.released:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.gate.limits.head_timeout_s, self.expire)

    def head_done(self) -> None:
        """A request head is complete: stop the deadline, and the first time, the slot
        is no longer one that a newcomer may close."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            self.pending = False
            self.gate._unpend(self)

    def expire(self) -> None:
        self.timer = None
        log.debug("closing a connection from %s: no request head in time", self.key)
        self.close()

    def close(self) -> None:
        """Close the socket now, wherever it is (handshake, HTTP, WebSocket)."""
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]
        elif self.task is not None:
            self.task.cancel()
        elif self.sock is not None:
            self.sock.close()
        if self.transport is None:  # no protocol will report the loss
            self.release()

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.transport = None  # no cycle through the protocol (the socket: see _connected)
        self.gate._release(self)


class ConnectionGate:
    """Counts connections in total and per source key; decides who comes in."""

    def __init__(self, limits: EffectiveLimits) -> None:
        self.limits = limits
        self.total = 0
        self.per_key: dict[str, int] = {}
        # Slots without a complete request head, oldest first (dicts keep order).
        self.pending: dict[Slot, None] = {}
        self.pending_by_key: dict[str, dict[Slot, None]] = {}
        self.refusing = 0
        self.refused = 0
        self.evicted = 0

    def admit(self, key: str, now: float) -> Slot | None:
        """A slot for a new connection from ``key``, or None: refuse it."""
        limits = self.limits
        if self.per_key.get(key, 0) >= limits.per_address and not self._evict_own(key, now):
            return None
        if self.total >= limits.total and not self._evict_any(key, now):
            return None
        slot = Slot(self, key, now)
        self.total += 1
        self.per_key[key] = self.per_key.get(key, 0) + 1
        self.pending[slot] = None
        self.pending_by_key.setdefault(key, {})[slot] = None
        return slot

    def _evict_own(self, key: str, now: float) -> bool:
        """At the per-address cap: the address's oldest connection without a request head
        makes room, if it had time enough to send one."""
        pending = self.pending_by_key.get(key)
        if not pending:
            return False
        oldest = next(iter(pending))
        if now - oldest.opened < self.limits.evict_idle_after_s:
            return False
        self._evict(oldest)
        return True

    def _evict_any(self, key: str, now: float) -> bool:
        """At the total cap: the oldest connection without a request head of the address
        holding the most such connections makes room, at once when that address holds
        more connections than the newcomer's (a flood from a few addresses cannot lock
        out the others), or once it had time enough to send a head."""
        if not self.pending_by_key:
            return False
        # Only addresses with connections waiting for a head: few, unless under attack.
        victim_key = max(self.pending_by_key, key=lambda k: len(self.pending_by_key[k]))
        oldest = next(iter(self.pending_by_key[victim_key]))
        bigger = (
            victim_key != key and self.per_key.get(victim_key, 0) > self.per_key.get(key, 0) + 1
        )
        if not bigger and now - oldest.opened < self.limits.evict_idle_after_s:
            return False
        self._evict(oldest)
        return True

    def _evict(self, slot: Slot) -> None:
        self.evicted += 1
        log.debug("closing an idle connection from %s to make room", slot.key)
        slot.close()
        slot.release()  # counted out now; its protocol's report comes later

    def _unpend(self, slot: Slot) -> None:
        self.pending.pop(slot, None)
        of_key = self.pending_by_key.get(slot.key)
        if of_key is not None:
            of_key.pop(slot, None)
            if not of_key:
                del self.pending_by_key[slot.key]

    def _release(self, slot: Slot) -> None:
        self._unpend(slot)
        self.total -= 1
        left = self.per_key.get(slot.key, 0) - 1
        if left > 0:
            self.per_key[slot.key] = left
        else:
            self.per_key.pop(slot.key, None)

    def close_pending(self) -> None:
        """At shutdown: close every connection that has not sent a request head."""
        for slot in list(self.pending):
            slot.close()
