"""Assembly of the services for one server (explicit; nothing is global)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domogate.security.passwords import Passwords
from domogate.security.sealing import Sealer
from domogate.services.audit import AuditLog
from domogate.services.auth import AuthService
from domogate.services.bus import Bus
from domogate.services.clients import ClientsService
from domogate.services.deploy import DeployService
from domogate.services.events import EventHub
from domogate.services.hashing import PasswordWorker
from domogate.services.maintenance import MaintenanceService
from domogate.services.objects import ObjectsService
from domogate.services.ports import AccountStore, Clock
from domogate.services.project_state import ProjectState
from domogate.services.service_password import ServicePasswordGuard, SetupCodes
from domogate.services.sessions import Presence, SessionRegistry
from domogate.settings import ServerSettings


@dataclass
class Services:
    settings: ServerSettings
    store: AccountStore
    clock: Clock
    server_id: str
    fingerprint: str | None
    events: EventHub
    project: ProjectState
    sessions: SessionRegistry
    presence: Presence
    passwords: PasswordWorker
    audit: AuditLog
    auth: AuthService
    clients: ClientsService
    deploy: DeployService
    objects: ObjectsService
    maintenance: MaintenanceService

    async def start(self) -> None:
        await self.project.load(self.store)
        await self.objects.start()

    async def close(self) -> None:
        await self.objects.stop()
        await self.audit.close()
        self.passwords.close()
        await self.store.close()


def build_services(
    *,
    settings: ServerSettings,
    store: AccountStore,
    clock: Clock,
    server_id: str,
    otp_key: bytes,
    seal_key: bytes,
    fingerprint: str | None,
    setup_codes: SetupCodes,
    randbelow: Callable[[int], int] = secrets.randbelow,
    bus: Bus,
    deploy_before_commit: Callable[[], Awaitable[None]] | None = None,
) -> Services:
    events = EventHub()
    project = ProjectState()
    sessions = SessionRegistry(settings.session_ttl)
    presence = Presence()
    passwords = PasswordWorker(Passwords(settings.argon2), settings.password_workers)
    audit = AuditLog(store, clock, aggregation_window_s=settings.audit_aggregation_window_s)
    guard = ServicePasswordGuard(
        settings=settings,
        clock=clock,
        project=project,
        passwords=passwords,
        setup_codes=setup_codes,
    )
    sealer = Sealer(seal_key)
    auth = AuthService(
        settings=settings,
        store=store,
        clock=clock,
        project=project,
        sessions=sessions,
        passwords=passwords,
        audit=audit,
        events=events,
        server_id=server_id,
        otp_key=otp_key,
    )
    clients = ClientsService(
        settings=settings,
        store=store,
        clock=clock,
        project=project,
        sessions=sessions,
        presence=presence,
        audit=audit,
        events=events,
        server_id=server_id,
        otp_key=otp_key,
        sealer=sealer,
        fingerprint=fingerprint,
        randbelow=randbelow,
    )
    deploy = DeployService(
        settings=settings,
        store=store,
        clock=clock,
        project=project,
        audit=audit,
        events=events,
        guard=guard,
        before_commit=deploy_before_commit,
    )
    objects = ObjectsService(
        bus=bus,
        project=project,
        events=events,
        clock=clock,
        throttle=settings.throttle.commands_per_user,
    )
    return Services(
        settings=settings,
        store=store,
        clock=clock,
        server_id=server_id,
        fingerprint=fingerprint,
        events=events,
        project=project,
        sessions=sessions,
        presence=presence,
        passwords=passwords,
        audit=audit,
        auth=auth,
        clients=clients,
        deploy=deploy,
        objects=objects,
        maintenance=MaintenanceService(
            settings=settings,
            store=store,
            clock=clock,
            project=project,
            guard=guard,
            audit=audit,
            events=events,
            server_id=server_id,
            fingerprint=fingerprint,
        ),
    )
