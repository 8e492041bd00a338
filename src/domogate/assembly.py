"""The composition root: concrete adapters plugged into the services' ports.

Everything the services take from outside (store, clock, bus, sealer, password hasher,
setup codes, ids and randomness) is chosen here and nowhere else; ``server.py``, the demo
and the tests build their services through :func:`build_services`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable

from domogate.security.passwords import Passwords
from domogate.security.sealing import Sealer
from domogate.services.audit import AuditLog
from domogate.services.container import Services
from domogate.services.deps import Deps
from domogate.services.events import EventHub
from domogate.services.hashing import PasswordWorker
from domogate.services.ports import (
    AccountStore,
    Bus,
    CertificateKeeper,
    Clock,
    CloudLink,
    IdSource,
    RandBelow,
    SetupCodes,
)
from domogate.services.project_state import ProjectState
from domogate.services.sessions import Presence
from domogate.settings import ServerSettings


def new_id() -> str:
    return uuid.uuid4().hex


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
    randbelow: RandBelow = secrets.randbelow,
    new_id: IdSource = new_id,
    bus: Bus,
    deploy_before_commit: Callable[[], Awaitable[None]] | None = None,
    cloud_link: CloudLink | None = None,
    certificate_keeper: CertificateKeeper | None = None,
) -> Services:
    deps = Deps(
        settings=settings,
        store=store,
        clock=clock,
        project=ProjectState(),
        events=EventHub(),
        audit=AuditLog(store, clock, aggregation_window_s=settings.audit_aggregation_window_s),
        presence=Presence(),
        passwords=PasswordWorker(Passwords(settings.argon2), settings.password_workers),
        sealer=Sealer(seal_key),
        server_id=server_id,
        otp_key=otp_key,
        fingerprint=fingerprint,
        new_id=new_id,
        randbelow=randbelow,
    )
    return Services(
        deps,
        bus=bus,
        setup_codes=setup_codes,
        deploy_before_commit=deploy_before_commit,
        cloud_link=cloud_link,
        certificate_keeper=certificate_keeper,
    )
