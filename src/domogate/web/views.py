"""The JSON of the services' typed results (contract: docs/api.md), and QR images."""

from __future__ import annotations

import io
from typing import Any

import segno

from domogate.core.accounts import AuditEvent, ConnectionPath
from domogate.core.times import iso
from domogate.errors import InvalidInput
from domogate.services.clients import ClientView, DeviceView, Issued
from domogate.services.context import Authenticated
from domogate.services.deploy import DeployResult
from domogate.services.ports import BusStatus, CloudLinkState


def _path(path: ConnectionPath | None) -> str | None:
    return path.value if path is not None else None


def device_json(d: DeviceView) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "path": _path(d.path),
        "last_seen": iso(d.last_seen),
        "online": d.online,
        "revoked": d.revoked,
        "created_at": iso(d.created_at),
    }


def client_json(c: ClientView) -> dict[str, Any]:
    return {
        "id": c.id,
        "label": c.label,
        "name": c.name,
        "group": c.group,
        "admin": c.admin,
        "status": c.status.value,
        "origin": c.origin.value,
        "allowed_paths": [p.value for p in c.allowed_paths],
        "otp_expires_at": iso(c.otp_expires_at),
        "account_expires_at": iso(c.account_expires_at),
        "created_at": iso(c.created_at),
        "revoked_at": iso(c.revoked_at),
        "last_seen": iso(c.last_seen),
        "path": _path(c.path),
        "devices": [device_json(d) for d in c.devices],
    }


def clients_json(clients: list[ClientView]) -> list[dict[str, Any]]:
    return [client_json(c) for c in clients]


def issued_json(issued: Issued) -> dict[str, Any]:
    return {
        "client": client_json(issued.client),
        "otp": issued.otp,
        "otp_expires_at": iso(issued.otp_expires_at),
        "join_link": issued.join_link,
    }


def authenticated_json(
    server_id: str, auth: Authenticated, with_token: bool = True
) -> dict[str, Any]:
    session: dict[str, Any] = {"expires_at": iso(auth.session.expires_at)}
    if with_token:
        session["token"] = auth.token
    return {
        "session": session,
        "user": {
            "id": auth.user.id,
            "name": auth.user.name,
            "group": auth.user.group,
            "admin": auth.user.admin,
        },
        "device": {"id": auth.device.id, "name": auth.device.name},
        "server_id": server_id,
        "path": auth.session.path.value,
    }


def deploy_json(result: DeployResult) -> dict[str, Any]:
    return {
        "version": result.version,
        "name": result.name,
        "users_created": result.users_created,
        "users_updated": result.users_updated,
        "users_removed": result.users_removed,
        "users_kept": result.users_kept,
        "admin_differs": result.admin_differs,
    }


def audit_json(event: AuditEvent, names: dict[str, str | None] | None = None) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "action": event.action,
        "outcome": event.outcome,
        "actor_user_id": event.actor_user_id,
        "actor_name": event.actor_name,
        "target": event.target,
        "target_name": (names or {}).get(event.target) if event.target else None,
        "source": event.source,
        "path": event.path.value if event.path else None,
        "details": event.details,
    }


def bus_json(status: BusStatus) -> dict[str, Any]:
    return {"adapter": status.adapter, "connected": status.connected, "detail": status.detail}


def cloud_json(state: CloudLinkState) -> dict[str, Any]:
    """The cloud link's state, as admins see it (live channel, maintenance page)."""
    return {
        "status": state.status,
        "name": state.name,
        "url": state.url,
        "relay": state.relay,
        "code": state.code,
        "message": state.message,
    }


def qr_image(link: str, fmt: str) -> tuple[bytes, str]:
    """The QR code of a join link as PNG or SVG bytes, with its media type."""
    qr = segno.make(link, error="m")
    buf = io.BytesIO()
    if fmt == "png":
        qr.save(buf, kind="png", scale=8, border=4)
        return buf.getvalue(), "image/png"
    if fmt == "svg":
        qr.save(buf, kind="svg", scale=8, border=4, xmldecl=False, svgns=True)
        return buf.getvalue(), "image/svg+xml"
    raise InvalidInput("QR format must be png or svg.")
