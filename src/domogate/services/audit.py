"""Audit trail of every authentication and administration event.

Events (and devices' last-seen times) are written in small batches: at most
``flush_interval`` after they happen, in one transaction, so that a sign-in storm costs one
write per batch instead of two per sign-in. Readers flush first, so what was recorded is
always what is read. A crash can lose at most the last ``flush_interval`` of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from domogate.core.accounts import AuditEvent, ConnectionPath, User
from domogate.services.context import RequestContext
from domogate.services.ports import AccountStore, Clock

log = logging.getLogger("domogate.audit")


class AuditLog:
    def __init__(
        self,
        store: AccountStore,
        clock: Clock,
        *,
        flush_interval: float = 0.02,
        max_batch: int = 500,
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = flush_interval
        self._max_batch = max_batch
        self._events: list[AuditEvent] = []
        self._touches: dict[str, tuple[datetime, ConnectionPath]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

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
        event = AuditEvent(
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
        # No secret ever reaches an audit event or the log: callers pass ids and names.
        log.info(
            "audit %s %s actor=%s target=%s source=%s",
            action,
            outcome,
            event.actor_name or event.actor_user_id,
            target,
            event.source,
        )
        self._events.append(event)
        await self._schedule()

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

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            with contextlib.suppress(Exception):
                await self._task  # a short sleep, then its flush: let it finish
        await self.flush()
