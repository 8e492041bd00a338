"""Audit trail of every authentication and administration event.

Events (and devices' last-seen times) are written in small batches: at most
``flush_interval`` after they happen, in one transaction, so that a sign-in storm costs one
write per batch instead of two per sign-in. Readers flush first, so what was recorded is
always what is read. A crash can lose at most the last ``flush_interval`` of events.

Failures of the ways in (wrong passwords, bad signatures, unknown OTPs) are aggregated: the
first failure of a kind from one source in a window is written as it happens, the next ones
of that window become one row whose ``details.repeated`` counts them, written when the
window closes. A flood costs the attacker requests and the log one row a minute.
Retention: :meth:`AuditLog.prune` drops events older than the retention period and
keeps at most the newest ``max_events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domogate.core.accounts import AuditEvent, ConnectionPath, User
from domogate.core.throttle import source_key
from domogate.core.times import iso
from domogate.services.context import RequestContext
from domogate.services.ports import AccountStore, Clock

log = logging.getLogger("domogate.audit")

MAX_AGGREGATES = 10_000  # distinct (action, outcome, source, target) windows held at once


@dataclass
class _Aggregate:
    first: AuditEvent
    since: datetime
    opened: float  # monotonic
    repeated: int = 0


class AuditLog:
    def __init__(
        self,
        store: AccountStore,
        clock: Clock,
        *,
        flush_interval: float = 0.02,
        max_batch: int = 500,
        aggregation_window_s: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = flush_interval
        self._max_batch = max_batch
        self._events: list[AuditEvent] = []
        self._touches: dict[str, tuple[datetime, ConnectionPath]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._window = aggregation_window_s
        self._aggregates: dict[tuple[str, str, str, str | None], _Aggregate] = {}
        self._closer: asyncio.TimerHandle | None = None

    async def record(
        self,
        action: str,
        outcome: str,
        context: RequestContext | None,
        *,
        actor: User | None = None,
        actor_name: str | None = None,
        target: str | None = None,
        **details: Any,
    ) -> None:
        self._append(self._event(action, outcome, context, actor, actor_name, target, details))
        await self._schedule()

    def _event(
        self,
        action: str,
        outcome: str,
        context: RequestContext | None,
        actor: User | None,
        actor_name: str | None,
        target: str | None,
        details: dict[str, Any],
    ) -> AuditEvent:
        return AuditEvent(
            at=self._clock.now(),
            action=action,
            outcome=outcome,
            actor_user_id=actor.id if actor else None,
            actor_name=(actor.name if actor else None) or actor_name,
            target=target,
            source=context.source if context else None,
            path=context.path if context else None,
            details=details,
        )

    def _append(self, event: AuditEvent) -> None:
        # No secret ever reaches an audit event or the log: callers pass ids and names.
        log.info(
            "audit %s %s actor=%s target=%s source=%s",
            event.action,
            event.outcome,
            event.actor_name or event.actor_user_id,
            event.target,
            event.source,
        )
        self._events.append(event)

    async def record_failure(
        self,
        action: str,
        outcome: str,
        context: RequestContext | None,
        *,
        actor: User | None = None,
        actor_name: str | None = None,
        target: str | None = None,
        **details: Any,
    ) -> None:
        """A refused attempt to get in: written at once when it is the first of its kind
        from this source in the window, otherwise counted into the window's summary row."""
        source = source_key(context.source) if context else "-"
        key = (action, outcome, source, target)
        now_m = self._clock.monotonic()
        agg = self._aggregates.get(key)
        if agg is not None and now_m - agg.opened < self._window:
            agg.repeated += 1
            return
        if agg is not None:
            self._emit(key, agg)
        if len(self._aggregates) >= MAX_AGGREGATES:
            self._close_windows(now_m, everything=True)
        event = self._event(action, outcome, context, actor, actor_name, target, details)
        self._append(event)
        self._aggregates[key] = _Aggregate(event, event.at, now_m)
        if self._closer is None:
            loop = asyncio.get_running_loop()
            self._closer = loop.call_later(self._window, self._on_window_timer)
        await self._schedule()

    def _emit(self, key: tuple[str, str, str, str | None], agg: _Aggregate) -> None:
        del self._aggregates[key]
        if agg.repeated == 0:
            return
        first = agg.first
        self._events.append(
            AuditEvent(
                at=self._clock.now(),
                action=first.action,
                outcome=first.outcome,
                actor_user_id=first.actor_user_id,
                actor_name=first.actor_name,
                target=first.target,
                source=first.source,
                path=first.path,
                details={"repeated": agg.repeated, "since": iso(agg.since)},
            )
        )
        log.info(
            "audit %s %s repeated=%d source=%s", first.action, first.outcome, agg.repeated,
            first.source,
        )  # fmt: skip

    def _close_windows(self, now_m: float, *, everything: bool = False) -> None:
        for key, agg in list(self._aggregates.items()):
            if everything or now_m - agg.opened >= self._window:
                self._emit(key, agg)

    def _on_window_timer(self) -> None:
        self._closer = None
        self._close_windows(self._clock.monotonic())
        if self._events and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._flush_later())
        if self._aggregates:
            self._closer = asyncio.get_running_loop().call_later(
                self._window / 4, self._on_window_timer
            )

    async def prune(self, retention: timedelta, max_events: int) -> int:
        """Drop events older than ``retention`` and beyond the newest ``max_events``."""
        await self.flush()
        return await self._store.prune_audit(self._clock.now() - retention, max_events)

    async def touch(self, device_id: str, at: datetime, path: ConnectionPath) -> None:
        """Remember that a device was seen; written with the next batch."""
        self._touches[device_id] = (at, path)
        await self._schedule()

    async def _schedule(self) -> None:
        if len(self._events) + len(self._touches) >= self._max_batch:
            await self.flush()
        elif self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._interval)
        try:
            await self.flush()
        except Exception:
            log.exception("could not write audit events")

    async def flush(self) -> None:
        async with self._lock:
            events, self._events = self._events, []
            touches, self._touches = self._touches, {}
            if not events and not touches:
                return
            try:
                await self._store.write_activity(
                    events, [(d, at, path) for d, (at, path) in touches.items()]
                )
            except Exception:
                # Put them back in front so that a transient failure loses nothing.
                self._events[:0] = events
                for d, v in touches.items():
                    self._touches.setdefault(d, v)
                raise

    async def list(
        self, *, limit: int = 200, user_id: str | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        await self.flush()
        return await self._store.list_audit(limit=limit, user_id=user_id, before_id=before_id)

    async def target_names(self) -> dict[str, str | None]:
        """The current name of every user (audit targets are user ids)."""
        return {u.id: u.name for u in await self._store.list_users()}

    async def close(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        self._close_windows(self._clock.monotonic(), everything=True)
        if self._task is not None and not self._task.done():
            with contextlib.suppress(Exception):
                await self._task  # a short sleep, then its flush: let it finish
        await self.flush()
