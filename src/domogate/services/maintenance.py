"""The maintenance page's use cases, behind the project's service password.

Whoever knows the service password (``system.password`` of the deployed project, an Argon2id
hash) may open a short maintenance session: see the server and project, who the users and
administrators are, the recent audit events, and grant or remove the admin flag. The
password is checked by the :class:`ServicePasswordGuard` (one limit with deploys: per source,
and in total, the server's own machine apart); every unlock, failure and change is audited.
Sessions are in-memory random tokens of which only a SHA-256 digest is kept.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domogate import __version__
from domogate.core.accounts import AuditEvent, User
from domogate.core.times import iso
from domogate.errors import (
    Conflict,
    DomogateError,
    NotFound,
    Unauthenticated,
)
from domogate.services.audit import AuditLog
from domogate.services.context import RequestContext
from domogate.services.events import ClientsChanged, EventHub
from domogate.services.ports import AccountStore, Clock
from domogate.services.project_state import ProjectState
from domogate.services.service_password import ServicePasswordGuard
from domogate.settings import ServerSettings

MAX_SESSIONS = 64
ACTOR = "maintenance"


@dataclass(frozen=True)
class MaintenanceSession:
    token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class MaintenanceService:
    def __init__(
        self,
        *,
        settings: ServerSettings,
        store: AccountStore,
        clock: Clock,
        project: ProjectState,
        guard: ServicePasswordGuard,
        audit: AuditLog,
        events: EventHub,
        server_id: str,
        fingerprint: str | None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._project = project
        self._guard = guard
        self._audit = audit
        self._events = events
        self._server_id = server_id
        self._fingerprint = fingerprint
        # digest -> expiry; insertion order is creation order (constant TTL).
        self._sessions: OrderedDict[str, datetime] = OrderedDict()

    # --- sessions -----------------------------------------------------------------------

    async def unlock(self, ctx: RequestContext, password: str) -> MaintenanceSession:
        """Check the service password (one limit with deploys); a maintenance session."""
        try:
            await self._guard.check(ctx, password=password, setup_code_allowed=False)
        except DomogateError as exc:
            await self._audit.record_failure("maintenance.unlock", exc.code, ctx, actor_name=ACTOR)
            raise
        await self._audit.record("maintenance.unlock", "ok", ctx, actor_name=ACTOR)
        return self._open_session()

    def _open_session(self) -> MaintenanceSession:
        now = self._clock.now()
        self._purge(now)
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        token = secrets.token_urlsafe(32)
        expires = now + self._settings.session_ttl
        self._sessions[_digest(token)] = expires
        return MaintenanceSession(token, expires)

    def _purge(self, now: datetime) -> None:
        while self._sessions:
            digest, expires = next(iter(self._sessions.items()))
            if expires > now:
                break
            del self._sessions[digest]

    def check(self, token: str) -> None:
        """``Unauthenticated`` unless ``token`` is a live maintenance session."""
        now = self._clock.now()
        self._purge(now)
        expires = self._sessions.get(_digest(token))
        if expires is None or expires <= now:
            raise Unauthenticated(
                "The maintenance session has ended or is unknown: enter the service password."
            )

    def lock(self, token: str) -> None:
        self._sessions.pop(_digest(token), None)

    # --- what the page shows ------------------------------------------------------------

    async def overview(self, token: str, audit_limit: int = 50) -> dict[str, Any]:
        self.check(token)
        stored = await self._store.current_project()
        project = self._project.project
        users = await self._store.list_users()
        devices = await self._store.list_devices()
        live_devices: dict[str, int] = {}
        for d in devices:
            if d.revoked_at is None:
                live_devices[d.user_id] = live_devices.get(d.user_id, 0) + 1
        rows = sorted((self._user_row(u, live_devices.get(u.id, 0)) for u in users), key=_order)
        return {
            "server": {
                "id": self._server_id,
                "fingerprint": self._fingerprint,
                "software_version": __version__,
                "address": f"{self._settings.host}:{self._settings.port}",
                "https": not self._settings.insecure_http,
            },
            "project": None
            if project is None or stored is None
            else {
                "name": project.name,
                "version": stored.version,
                "deployed_at": iso(stored.deployed_at),
                "groups": project.group_names(),
                "use_otp_authentication": project.system.use_otp_authentication,
                "automatic_authentication": project.system.automatic_authentication,
                "connection_policy": project.system.cloud.connection_policy.value,
                "cloud_enabled": project.system.cloud.enabled,
            },
            "admins": [r["name"] for r in rows if r["admin"] and not r["revoked"]],
            "users": rows,
            "audit": await self.recent_audit(audit_limit),
        }

    async def recent_audit(self, limit: int) -> list[AuditEvent]:
        return await self._audit.list(limit=limit)

    @staticmethod
    def _user_row(user: User, devices: int) -> dict[str, Any]:
        return {
            "id": user.id,
            "name": user.name or f"(unnamed slot added {user.created_at:%Y-%m-%d %H:%M} UTC)",
            "named": user.name is not None,
            "group": user.group,
            "admin": user.admin,
            "origin": user.origin.value,
            "revoked": user.revoked_at is not None,
            "devices": devices,
        }

    # --- changes ------------------------------------------------------------------------

    async def set_admin(
        self, ctx: RequestContext, token: str, user_id: str, admin: bool
    ) -> dict[str, Any]:
        """Grant or remove the admin flag; the user's row as the overview shows it."""
        self.check(token)
        user = await self._store.get_user(user_id)
        if user is None:
            raise NotFound("No such user.")
        if admin and user.revoked_at is not None:
            raise Conflict("This user is revoked; a revoked user cannot become an administrator.")
        action = "admin.grant" if admin else "admin.revoke"
        if user.admin != admin:
            user = replace(user, admin=admin, admin_set_on_server=True)
            await self._store.update_user(user)
            await self._audit.record(action, "ok", ctx, actor_name=ACTOR, target=user.id)
            self._events.publish(ClientsChanged())
        else:
            await self._audit.record(action, "unchanged", ctx, actor_name=ACTOR, target=user.id)
        devices = [d for d in await self._store.list_devices(user.id) if d.revoked_at is None]
        return self._user_row(user, len(devices))


def _order(row: dict[str, Any]) -> tuple[bool, bool, bool, str]:
    return (row["revoked"], not row["admin"], not row["named"], str(row["name"]).casefold())
