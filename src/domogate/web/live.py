"""The live channel ``/api/ws``: authentication, fan-out of events, revocation.

Each connection has a bounded send queue drained by its own task: a slow client never
holds up the others, and one that cannot keep up is closed (4429) and told why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from domogate.errors import DomogateError, InvalidInput, Unauthenticated
from domogate.services.container import Services
from domogate.services.context import Caller, RequestContext
from domogate.services.events import ClientsChanged, DevicesRevoked, Event, ProjectChanged
from domogate.web.errors import WS_CLOSE

log = logging.getLogger(__name__)

_CLOSE = object()


@dataclass(eq=False)
class Connection:
    websocket: WebSocket
    caller: Caller
    queue: asyncio.Queue[Any]
    closing: bool = False
    sender: asyncio.Task[None] | None = field(default=None)

    @property
    def device_id(self) -> str:
        return self.caller.session.device_id

    @property
    def is_admin(self) -> bool:
        return self.caller.user.admin

    def push(self, message: dict[str, Any] | str) -> bool:
        if self.closing:
            return False
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.close(WS_CLOSE["too_slow"], "too_slow", "Too slow to receive updates.")
            return False
        return True

    def close(self, code: int, error_code: str | None = None, message: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        # Make room: a closing connection gets no more updates.
        while not self.queue.empty():
            self.queue.get_nowait()
        if error_code:
            self.queue.put_nowait(
                {"type": "error", "error": {"code": error_code, "message": message}}
            )
        self.queue.put_nowait((_CLOSE, code, message[:120]))


class LiveHub:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.connections: set[Connection] = set()
        self._clients_dirty = False
        self._flush_task: asyncio.Task[None] | None = None
        services.events.subscribe(self._on_event)

    # --- events -------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ProjectChanged):
            text = json.dumps({"type": "project", "version": event.version})
            for conn in list(self.connections):
                conn.push(text)
        elif isinstance(event, DevicesRevoked):
            for conn in list(self.connections):
                if conn.device_id in event.device_ids:
                    conn.close(WS_CLOSE["revoked"], event.code, event.message)
        elif isinstance(event, ClientsChanged):
            self._schedule_clients_push()

    def _schedule_clients_push(self) -> None:
        self._clients_dirty = True
        if self._flush_task is None or self._flush_task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._flush_task = loop.create_task(self._flush_clients())

    async def _flush_clients(self) -> None:
        # Coalesce bursts of changes into one snapshot, at most every 50 ms.
        await asyncio.sleep(0.05)
        while self._clients_dirty:
            self._clients_dirty = False
            admins = [c for c in self.connections if c.is_admin and not c.closing]
            if not admins:
                continue
            try:
                clients = await self.services.clients.snapshot()
            except Exception:
                log.exception("could not build the client list")
                return
            text = json.dumps({"type": "clients", "clients": clients})
            for conn in admins:
                conn.push(text)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.close(1001, None, "server shutting down")
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush_task

    # --- one connection ---------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        settings = self.services.settings
        host = websocket.client.host if websocket.client else "unknown"
        ctx = RequestContext(source=host)
        try:
            raw = await asyncio.wait_for(websocket.receive_text(), settings.ws_auth_timeout_s)
        except TimeoutError:
            await self._refuse(websocket, "auth_timeout", 'Send {"type": "auth"} first.', 4408)
            return
        except WebSocketDisconnect:
            return
        try:
            message = _parse(raw)
            if message.get("type") != "auth" or not isinstance(message.get("token"), str):
                raise Unauthenticated('The first message must be {"type": "auth", "token": …}.')
            caller = await self.services.auth.authenticate(message["token"], ctx)
        except DomogateError as exc:
            await self._refuse(websocket, exc.code, exc.message, WS_CLOSE.get(exc.code, 4401))
            return

        conn = Connection(websocket, caller, asyncio.Queue(maxsize=settings.ws_send_queue))
        self.connections.add(conn)
        conn.sender = asyncio.get_running_loop().create_task(self._send_loop(conn))
        came_online = self.services.presence.connected(conn.device_id, caller.session.path)
        conn.push(
            {
                "type": "hello",
                "user": {
                    "id": caller.user.id,
                    "name": caller.user.name,
                    "group": caller.user.group,
                    "admin": caller.user.admin,
                },
                "device": {"id": conn.device_id},
                "project_version": self.services.project.version,
            }
        )
        if conn.is_admin:
            conn.push({"type": "clients", "clients": await self.services.clients.snapshot()})
        if came_online:
            self.services.events.publish(ClientsChanged())
        try:
            await self._receive_loop(conn)
        finally:
            self.connections.discard(conn)
            if not conn.closing:
                conn.close(1000)
            if conn.sender is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(conn.sender, 2)
            if self.services.presence.disconnected(conn.device_id):
                self.services.events.publish(ClientsChanged())

    async def _receive_loop(self, conn: Connection) -> None:
        ws = conn.websocket
        while not conn.closing:
            try:
                raw = await ws.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            try:
                message = _parse(raw)
            except InvalidInput as exc:
                conn.close(WS_CLOSE["invalid_input"], exc.code, exc.message)
                return
            if message.get("type") == "ping":
                conn.push({"type": "pong"})

    async def _send_loop(self, conn: Connection) -> None:
        ws = conn.websocket
        try:
            while True:
                item = await conn.queue.get()
                if isinstance(item, tuple) and item and item[0] is _CLOSE:
                    if ws.application_state == WebSocketState.CONNECTED:
                        await ws.close(code=item[1], reason=item[2])
                    return
                if isinstance(item, str):
                    await ws.send_text(item)
                else:
                    await ws.send_text(json.dumps(item))
        except (WebSocketDisconnect, RuntimeError, OSError):
            conn.closing = True

    @staticmethod
    async def _refuse(websocket: WebSocket, code: str, message: str, close_code: int) -> None:
        with contextlib.suppress(Exception):
            await websocket.send_text(
                json.dumps({"type": "error", "error": {"code": code, "message": message}})
            )
            await websocket.close(code=close_code, reason=code)


def _parse(raw: str) -> dict[str, Any]:
    if len(raw) > 16 * 1024:
        raise InvalidInput("Message too large.")
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("Messages must be JSON objects.") from exc
    if not isinstance(message, dict):
        raise InvalidInput("Messages must be JSON objects.")
    return message


def router(hub: LiveHub) -> APIRouter:
    r = APIRouter()

    @r.websocket("/api/ws")
    async def live(websocket: WebSocket) -> None:
        await hub.serve(websocket)

    return r
