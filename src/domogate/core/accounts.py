"""Accounts: users, devices, OTP records, audit events, deployed project versions.

Frozen records exchanged between services and storage, and the pure rules over them
(status of a client in the admin's list, its label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domogate.core import otp as otp_rules


class ConnectionPath(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"


ALL_PATHS: frozenset[ConnectionPath] = frozenset(ConnectionPath)


class ClientStatus(StrEnum):
    PENDING = "Pending"
    ONLINE = "Online"
    OFFLINE = "Offline"
    EXPIRED = "Expired"
    REVOKED = "Revoked"


class UserOrigin(StrEnum):
    PROJECT = "project"  # an initial user of the deployed project
    ADMIN = "admin"  # added by an admin through Manage clients


class OtpState(StrEnum):
    PENDING = "pending"
    USED = "used"
    EXPIRED = "expired"
    REPLACED = "replaced"  # superseded by a newer OTP for the same user
    REVOKED = "revoked"  # its user was revoked


@dataclass(frozen=True)
class User:
    id: str
    name: str | None  # None: a pending slot whose name comes when the person joins
    group: str
    admin: bool
    origin: UserOrigin
    created_at: datetime
    password_hash: str | None = None
    allowed_paths: frozenset[ConnectionPath] = ALL_PATHS
    account_expires_at: datetime | None = None
    revoked_at: datetime | None = None
    # The admin flag was granted or removed on the server (maintenance page, `server admin
    # grant|revoke`): a redeploy then keeps it instead of taking the project's.
    admin_set_on_server: bool = False

    def is_account_expired(self, now: datetime) -> bool:
        return self.account_expires_at is not None and now >= self.account_expires_at


@dataclass(frozen=True)
class Device:
    id: str
    user_id: str
    name: str
    public_key: str
    created_at: datetime
    last_seen_at: datetime | None = None
    last_path: ConnectionPath | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class OtpRecord:
    """An OTP at rest: its keyed digest, and while pending an encrypted copy for admins."""

    id: str
    user_id: str
    digest: str
    created_at: datetime
    expires_at: datetime
    state: OtpState = OtpState.PENDING
    sealed: bytes | None = None
    finished_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        return self.state is OtpState.PENDING and now < self.expires_at


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    action: str  # e.g. "login.password", "otp.redeem", "client.add", "deploy"
    outcome: str  # "ok" or an error code
    actor_user_id: str | None = None
    actor_name: str | None = None
    target: str | None = None
    source: str | None = None  # network address the request came from
    path: ConnectionPath | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class ProjectVersion:
    version: int
    data: dict[str, Any]  # the validated project, as JSON data
    deployed_at: datetime
    deployed_by: str


def client_status(
    user: User,
    devices: list[Device],
    pending_otp: OtpRecord | None,
    online_device_ids: set[str] | frozenset[str],
    now: datetime,
) -> ClientStatus:
    """The status word shown in the Clients table (DESIGN §6)."""
    if user.revoked_at is not None:
        return ClientStatus.REVOKED
    if user.is_account_expired(now):
        return ClientStatus.EXPIRED
    live = [d for d in devices if d.revoked_at is None]
    if any(d.id in online_device_ids for d in live):
        return ClientStatus.ONLINE
    if live or user.password_hash:
        return ClientStatus.OFFLINE
    if pending_otp is not None and pending_otp.is_live(now):
        return ClientStatus.PENDING
    if devices:  # every device revoked, no OTP
        return ClientStatus.OFFLINE
    return ClientStatus.EXPIRED


UNNAMED_SLOT = "unnamed slot"


def unnamed_slot(created_at: datetime | None = None) -> str:
    """How a slot nobody has named yet is called: ``unnamed slot``, with when it was added
    (``unnamed slot added 2026-11-28 12:00 UTC``) where that tells slots apart."""
    if created_at is None:
        return UNNAMED_SLOT
    return f"{UNNAMED_SLOT} added {created_at:%Y-%m-%d %H:%M} UTC"


def unnamed_slot_label(created_at: datetime | None = None) -> str:
    """The slot in a list of users, where a name would be: ``(unnamed slot …)``."""
    return f"({unnamed_slot(created_at)})"


def client_label(user: User, status: ClientStatus, pending_otp_plain: str | None) -> str:
    """The OTP while the slot is pending (not yet connected), then the user's name."""
    if status is ClientStatus.PENDING and pending_otp_plain:
        return otp_rules.display(pending_otp_plain)
    if user.name:
        return user.name
    return unnamed_slot_label()
