"""What every use case may lean on, handed over as one object (``Deps``).

The composition root (``domogate/assembly.py``) builds it from the ports; a service keeps
it and reaches its collaborators through it instead of copying each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from domogate.services.audit import AuditLog
from domogate.services.events import EventHub
from domogate.services.hashing import PasswordWorker
from domogate.services.ports import AccountStore, Clock, IdSource, RandBelow, Sealer
from domogate.services.project_state import ProjectState
from domogate.services.sessions import Presence
from domogate.settings import ServerSettings


@dataclass(frozen=True)
class Deps:
    settings: ServerSettings
    store: AccountStore
    clock: Clock
    project: ProjectState
    events: EventHub
    audit: AuditLog
    presence: Presence
    passwords: PasswordWorker
    sealer: Sealer
    server_id: str
    otp_key: bytes
    fingerprint: str | None
    new_id: IdSource
    randbelow: RandBelow
