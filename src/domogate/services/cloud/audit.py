"""The cloud's audit trail (``cloud_audit``): links, claims, releases, and refusals.

Events are written as they happen (they are rare: a link is long-lived). Failures (wrong
passwords, bad signatures, throttled attempts) are aggregated like the server's
(``services/audit.py``): the first failure of a kind for one name from one source in a
window is written at once; the next ones of that window become one row whose
``detail.repeated`` counts them, written when the window closes (or at :meth:`flush`).
A flood costs the attacker attempts and the database one row a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domogate.core.cloudclaims import CloudAuditEvent
from domogate.core.throttle import source_key
from domogate.services.ports import Clock, CloudStore

log = logging.getLogger("domogate.cloud.audit")

MAX_AGGREGATES = 10_000


@dataclass
class _Aggregate:
    first: CloudAuditEvent
    opened: float  # monotonic
    repeated: int = 0


class CloudAudit:
    def __init__(self, store: CloudStore, clock: Clock, *, window_s: float = 60.0) -> None:
        self._store = store
        self._clock = clock
        self._window = window_s
        self._aggregates: dict[tuple[str, str, str], _Aggregate] = {}
        self._closer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _event(
        self, event: str, name: str | None, source: str | None, detail: dict[str, Any]
    ) -> CloudAuditEvent:
        # callers pass names, addresses and codes: never a password or a pool key
        log.info("cloud audit %s name=%s source=%s", event, name, source)
        return CloudAuditEvent(self._clock.now(), event, name, source, detail)

    async def record(self, event: str, name: str | None, source: str | None, **detail: Any) -> None:
        await self._store.append_cloud_audit([self._event(event, name, source, detail)])

    async def record_failure(
        self, event: str, name: str | None, source: str | None, **detail: Any
    ) -> None:
        now = self._clock.monotonic()
        key = (event, source_key(source or ""), name or "")
        current = self._aggregates.get(key)
        if current is not None and now - current.opened < self._window:
            current.repeated += 1
            self._arm()
            return
        due: list[CloudAuditEvent] = []
        if current is not None:
            due += self._summary(self._aggregates.pop(key))
        if len(self._aggregates) >= MAX_AGGREGATES:
            due += self._close_expired(now, everything=True)
        first = self._event(event, name, source, detail)
        self._aggregates[key] = _Aggregate(first, now)
        await self._store.append_cloud_audit([*due, first])

    def _summary(self, aggregate: _Aggregate) -> list[CloudAuditEvent]:
        if aggregate.repeated == 0:
            return []
        first = aggregate.first
        since: datetime = first.at
        detail = {**first.detail, "repeated": aggregate.repeated, "since": since.isoformat()}
        return [CloudAuditEvent(self._clock.now(), first.event, first.name, first.source, detail)]

    def _close_expired(self, now: float, *, everything: bool = False) -> list[CloudAuditEvent]:
        due: list[CloudAuditEvent] = []
        for key, aggregate in list(self._aggregates.items()):
            if everything or now - aggregate.opened >= self._window:
                due += self._summary(self._aggregates.pop(key))
        return due

    def _arm(self) -> None:
        if self._closer is not None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: flush() writes them
            loop = asyncio.get_running_loop()
            self._closer = loop.call_later(self._window, self._on_window)

    def _on_window(self) -> None:
        self._closer = None
        due = self._close_expired(self._clock.monotonic())
        if any(a.repeated for a in self._aggregates.values()):
            self._arm()
        if due:
            task = asyncio.get_running_loop().create_task(self._store.append_cloud_audit(due))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Write every open aggregate's count now (at shutdown, or before reading)."""
        due = self._close_expired(self._clock.monotonic(), everything=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.append_cloud_audit(due)

    async def close(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        await self.flush()
