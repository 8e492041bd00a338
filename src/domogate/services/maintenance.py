"""The maintenance page's use cases, behind the project's service password.

Whoever knows the service password (``system.password`` of the deployed project, an Argon2id
hash) may open a short maintenance session: see the server and project, who the users and
administrators are, the recent audit events, and grant or remove the admin flag. The
password is checked by the :class:`ServicePasswordGuard` (one limit with deploys: per source,
and in total, the server's own machine apart); every unlock, failure and change is audited.
Sessions are in-memory random tokens of which only a SHA-256 digest is kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from domogate import __version__
from domogate.core.accounts import AuditEvent, User, UserOrigin, unnamed_slot_label
from domogate.errors import (
    Conflict,
    DomogateError,
    NotFound,
    Unauthenticated,
)
from domogate.services.auth import AuthService
from domogate.services.context import RequestContext
from domogate.services.deps import Deps
from domogate.services.events import ClientsChanged
from domogate.services.service_password import ServicePasswordGuard
from domogate.services.tokens import ExpiringTokens, digest

MAX_SESSIONS = 64
ACTOR = "maintenance"


@dataclass(frozen=True)
class MaintenanceSession:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class ServerFacts:
    id: str
    fingerprint: str | None  # of its TLS certificate; None over plain HTTP
    software_version: str
    address: str  # host:port it listens on
    https: bool


@dataclass(frozen=True)
class ProjectFacts:
    """The deployed project, without anything secret (no password hashes)."""

    name: str
    version: int
    deployed_at: datetime
    groups: tuple[str, ...]
    use_otp_authentication: bool
    automatic_authentication: bool
    connection_policy: str
    cloud_enabled: bool


@dataclass(frozen=True)
class UserRow:
    id: str
    name: str  # the user's name, or the unnamed slot's label
    named: bool
    group: str
    admin: bool
    origin: UserOrigin
    revoked: bool
    devices: int  # devices not revoked


@dataclass(frozen=True)
class Overview:
    """What the maintenance page shows; users ordered live admins first, then by name."""

    server: ServerFacts
    project: ProjectFacts | None
    admins: tuple[str, ...]
    users: tuple[UserRow, ...]
    audit: tuple[AuditEvent, ...]


class MaintenanceService:
    def __init__(self, deps: Deps, guard: ServicePasswordGuard, auth: AuthService) -> None:
        self._d = deps
        self._guard = guard
        self._auth = auth
        self._sessions: ExpiringTokens[None] = ExpiringTokens(
            deps.settings.session_ttl, max_live=MAX_SESSIONS
        )

    # --- sessions -----------------------------------------------------------------------

    async def unlock(self, ctx: RequestContext, password: str) -> MaintenanceSession:
        """Check the service password (one limit with deploys); a maintenance session."""
        try:
            await self._guard.check(ctx, password=password, setup_code_allowed=False)
        except DomogateError as exc:
            await self._d.audit.record_failure(
                "maintenance.unlock", exc.code, ctx, actor_name=ACTOR
            )
            raise
        await self._d.audit.record("maintenance.unlock", "ok", ctx, actor_name=ACTOR)
        return self._open_session()

    def _open_session(self) -> MaintenanceSession:
        token = secrets.token_urlsafe(32)
        expires = self._sessions.add(digest(token), None, self._d.clock.now())
        return MaintenanceSession(token, expires)

    def check(self, token: str) -> None:
        """``Unauthenticated`` unless ``token`` is a live maintenance session."""
        now = self._d.clock.now()
        self._sessions.purge(now)
        entry = self._sessions.peek(digest(token))
        if entry is None or entry[1] <= now:
            raise Unauthenticated(
                "The maintenance session has ended or is unknown: enter the service password."
            )

    def is_live_token(self, token: str) -> bool:
        try:
            self.check(token)
        except DomogateError:
            return False
        return True

    def lock(self, token: str) -> None:
        self._sessions.discard(digest(token))

    # --- what the page shows ------------------------------------------------------------

    async def overview(self, token: str, audit_limit: int = 50) -> Overview:
        self.check(token)
        stored = await self._d.store.current_project()
        project = self._d.project.project
        users = await self._d.store.list_users()
        devices = await self._d.store.list_devices()
        live_devices: dict[str, int] = {}
        for d in devices:
            if d.revoked_at is None:
                live_devices[d.user_id] = live_devices.get(d.user_id, 0) + 1
        rows = sorted((_user_row(u, live_devices.get(u.id, 0)) for u in users), key=_order)
        return Overview(
            server=ServerFacts(
                id=self._d.server_id,
                fingerprint=self._d.fingerprint,
                software_version=__version__,
                address=f"{self._d.settings.host}:{self._d.settings.port}",
                https=not self._d.settings.insecure_http,
            ),
            project=None
            if project is None or stored is None
            else ProjectFacts(
                name=project.name,
                version=stored.version,
                deployed_at=stored.deployed_at,
                groups=tuple(project.group_names()),
                use_otp_authentication=project.system.use_otp_authentication,
                automatic_authentication=project.system.automatic_authentication,
                connection_policy=project.system.cloud.connection_policy.value,
                cloud_enabled=project.system.cloud.enabled,
            ),
            admins=tuple(r.name for r in rows if r.admin and not r.revoked),
            users=tuple(rows),
            audit=tuple(await self.recent_audit(audit_limit)),
        )

    async def recent_audit(self, limit: int) -> list[AuditEvent]:
        return await self._d.audit.list(limit=limit)

    # --- changes ------------------------------------------------------------------------

    async def set_admin(
        self, ctx: RequestContext, token: str, user_id: str, admin: bool
    ) -> UserRow:
        """Grant or remove the admin flag; the user's row as the overview shows it."""
        self.check(token)
        user = await self._d.store.get_user(user_id)
        if user is None:
            raise NotFound("No such user.")
        if admin and user.revoked_at is not None:
            raise Conflict("This user is revoked; a revoked user cannot become an administrator.")
        action = "admin.grant" if admin else "admin.revoke"
        if user.admin != admin:
            user = replace(user, admin=admin, admin_set_on_server=True)
            await self._d.store.update_user(user)
            await self._d.audit.record(action, "ok", ctx, actor_name=ACTOR, target=user.id)
            self._auth.user_changed(user)
            self._d.events.publish(ClientsChanged())
        else:
            await self._d.audit.record(action, "unchanged", ctx, actor_name=ACTOR, target=user.id)
        devices = [d for d in await self._d.store.list_devices(user.id) if d.revoked_at is None]
        return _user_row(user, len(devices))


def _user_row(user: User, devices: int) -> UserRow:
    return UserRow(
        id=user.id,
        name=user.name or unnamed_slot_label(user.created_at),
        named=user.name is not None,
        group=user.group,
        admin=user.admin,
        origin=user.origin,
        revoked=user.revoked_at is not None,
        devices=devices,
    )


def _order(row: UserRow) -> tuple[bool, bool, bool, str]:
    return (row.revoked, not row.admin, not row.named, row.name.casefold())
