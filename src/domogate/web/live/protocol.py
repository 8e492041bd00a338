"""The live channel's messages: parsing what clients send, building what they are sent."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from domogate.core.times import iso
from domogate.errors import InvalidInput
from domogate.services.context import Caller
from domogate.services.events import UpdateStatus
from domogate.services.ports import BusStatus, CloudLinkState
from domogate.web.live.transport import WS_MAX_MESSAGE, RawSocket
from domogate.web.views import bus_json, cloud_json


def parse(raw: str) -> dict[str, Any]:
    if len(raw) > WS_MAX_MESSAGE:
        raise InvalidInput("Message too large.")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("Messages must be JSON objects.") from exc
    if not isinstance(message, dict):
        raise InvalidInput("Messages must be JSON objects.")
    return message


def hello(caller: Caller, project_version: int | None) -> dict[str, Any]:
    user = caller.user
    return {
        "type": "hello",
        "user": {"id": user.id, "name": user.name, "group": user.group, "admin": user.admin},
        "device": {"id": caller.session.device_id},
        "session": {"expires_at": iso(caller.session.expires_at)},
        "project_version": project_version,
    }


def bus_message(status: BusStatus) -> dict[str, Any]:
    return {"type": "bus", **bus_json(status)}


def cloud_message(state: CloudLinkState) -> dict[str, Any]:
    return {"type": "cloud", **cloud_json(state)}


def update_json(status: UpdateStatus) -> dict[str, Any]:
    """Published versions as admins see them (the live ``update``, the maintenance page)."""
    refused = status.refused
    return {
        "available": status.available,
        "published_at": status.published_at,
        "refused": None
        if refused is None
        else {"version": refused.version, "code": refused.code, "message": refused.message},
    }


def update_message(status: UpdateStatus) -> dict[str, Any]:
    return {"type": "update", **update_json(status)}


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}


async def refuse(socket: RawSocket, code: str, message: str, close_code: int) -> None:
    """Tell a socket that is not (or not yet) a connection why, and close it."""
    with contextlib.suppress(Exception):
        await socket.send_text(json.dumps(error_message(code, message)))
    await socket.close(close_code, code)
