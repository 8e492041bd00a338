"""Audit trail of every authentication and administration event."""

from __future__ import annotations

import logging
from typing import Any

from domogate.core.accounts import AuditEvent, User
from domogate.services.context import RequestContext
from domogate.services.ports import AccountStore, Clock

log = logging.getLogger("domogate.audit")


class AuditLog:
    def __init__(self, store: AccountStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

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
        await self._store.append_audit(event)
