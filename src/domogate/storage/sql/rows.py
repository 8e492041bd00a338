"""Rows and records: conversions between the tables and :mod:`domogate.core.accounts`,
and the prebuilt statements of the hot paths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from domogate.core.accounts import (
    AuditEvent,
    ConnectionPath,
    Device,
    OtpRecord,
    OtpState,
    User,
    UserOrigin,
)
from domogate.core.names import name_key
from domogate.storage.sql.schema import AuditRow, DeviceRow, OtpRow, UserRow

# --- prebuilt statements for the hot paths (built once, parameters bound per call) -----------

GET_USER = select(UserRow).where(UserRow.id == bindparam("user_id"))
USER_BY_KEY = select(UserRow).where(UserRow.name_key == bindparam("key"))
GET_DEVICE = select(DeviceRow).where(DeviceRow.id == bindparam("device_id"))
TOUCH_DEVICE = (
    update(DeviceRow)
    .where(DeviceRow.id == bindparam("device_id"))
    .values(last_seen_at=bindparam("at"), last_path=bindparam("path"))
)
GET_OTP = select(OtpRow).where(OtpRow.id == bindparam("otp_id"))
# Digests of different OTPs may collide across time (the same code issued twice): the
# pending one wins, then the newest.
OTP_BY_DIGEST = (
    select(OtpRow)
    .where(OtpRow.digest == bindparam("digest"))
    .order_by(
        (OtpRow.state == OtpState.PENDING.value).desc(),
        OtpRow.created_at.desc(),
        OtpRow.id,
    )
    .limit(1)
)
INSERT_AUDIT = insert(AuditRow)


# --- conversions ------------------------------------------------------------------------------


def paths_to_text(paths: Iterable[ConnectionPath]) -> str:
    return ",".join(sorted(ConnectionPath(p).value for p in paths))


def paths_from_text(text: str) -> frozenset[ConnectionPath]:
    return frozenset(ConnectionPath(p) for p in text.split(",") if p)


def user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "name_key": name_key(user.name) if user.name is not None else None,
        "group_name": user.group,
        "admin": user.admin,
        "origin": UserOrigin(user.origin).value,
        "created_at": user.created_at,
        "password_hash": user.password_hash,
        "allowed_paths": paths_to_text(user.allowed_paths),
        "account_expires_at": user.account_expires_at,
        "revoked_at": user.revoked_at,
        "admin_on_server": user.admin_set_on_server,
    }


def user_from_row(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        group=row.group_name,
        admin=bool(row.admin),
        origin=UserOrigin(row.origin),
        created_at=row.created_at,
        password_hash=row.password_hash,
        allowed_paths=paths_from_text(row.allowed_paths),
        account_expires_at=row.account_expires_at,
        revoked_at=row.revoked_at,
        admin_set_on_server=bool(row.admin_on_server),
    )


def device_values(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "user_id": device.user_id,
        "name": device.name,
        "public_key": device.public_key,
        "created_at": device.created_at,
        "last_seen_at": device.last_seen_at,
        "last_path": ConnectionPath(device.last_path).value if device.last_path else None,
        "revoked_at": device.revoked_at,
    }


def device_from_row(row: Any) -> Device:
    return Device(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        public_key=row.public_key,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        last_path=ConnectionPath(row.last_path) if row.last_path else None,
        revoked_at=row.revoked_at,
    )


def otp_from_row(row: Any) -> OtpRecord:
    return OtpRecord(
        id=row.id,
        user_id=row.user_id,
        digest=row.digest,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=OtpState(row.state),
        sealed=bytes(row.sealed) if row.sealed is not None else None,
        finished_at=row.finished_at,
    )


def audit_from_row(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        action=row.action,
        outcome=row.outcome,
        actor_user_id=row.actor_user_id,
        actor_name=row.actor_name,
        target=row.target,
        source=row.source,
        path=ConnectionPath(row.path) if row.path else None,
        details=dict(row.details or {}),
    )


def audit_params(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": event.at,
        "action": event.action,
        "outcome": event.outcome,
        "actor_user_id": event.actor_user_id,
        "actor_name": event.actor_name,
        "target": event.target,
        "source": event.source,
        "path": ConnectionPath(event.path).value if event.path else None,
        "details": dict(event.details),
    }
