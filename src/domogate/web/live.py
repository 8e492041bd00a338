"""The live channel ``/api/ws``: authentication, fan-out of events, revocation.

Each connection has a bounded send queue drained by its own task: a slow client never
holds up the others, and one that cannot keep up is closed (4429) and told why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field, replace
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
WS_MAX_MESSAGE = 64 * 1024  # transport limit for one client message (uvicorn ws_max_size)


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
    def __init__(self, services: Services, recheck_interval: float = 0.5) -> None:
        self.services = services
        self.connections: set[Connection] = set()
        self._clients_dirty = False
        self._flush_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._recheck_interval = recheck_interval
        self._stop = asyncio.Event()
        services.events.subscribe(self._on_event)

    # --- keeping open connections honest ------------------------------------------------

    async def recheck(self) -> None:
        """Close connections whose session ended or whose user was revoked or expired,
        and refresh each connection's view of its user (an admin may have been demoted
        by the local maintenance command)."""
        if not self.connections:
            return
        now = self.services.clock.now()
        users = {u.id: u for u in await self.services.store.list_users()}
        for conn in list(self.connections):
            if conn.closing:
                continue
            session = conn.caller.session
            user = users.get(session.user_id)
            if not self.services.sessions.is_open(session.token_hash, now):
                conn.close(WS_CLOSE["unauthenticated"], "unauthenticated", "Session ended.")
            elif user is None or user.revoked_at is not None:
                conn.close(WS_CLOSE["revoked"], "revoked", "Access has been revoked.")
            elif user.is_account_expired(now):
                conn.close(WS_CLOSE["account_expired"], "account_expired", "Account expired.")
            elif user != conn.caller.user:
                conn.caller = replace(conn.caller, user=user)

    def _ensure_supervisor(self) -> None:
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        # Never cancelled in the middle of a query: stopping sets an event it waits on.
        while self.connections and not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._recheck_interval)
            if self._stop.is_set():
                return
            try:
                await self.recheck()
            except Exception:
                log.exception("could not recheck live connections")

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
            try:
                await self.recheck()  # never send the list to someone no longer admin
            except Exception:
                log.exception("could not recheck live connections")
                return
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
        self._stop.set()
        for task in (self._supervisor, self._flush_task):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 5)

    # --- one connection ---------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        settings = self.services.settings
        host = websocket.client.host if websocket.client else "unknown"
        ctx = RequestContext(source=host)
        try:
            raw = await asyncio.wait_for(_receive_text(websocket), settings.ws_auth_timeout_s)
        except TimeoutError:
            await self._refuse(websocket, "auth_timeout", 'Send {"type": "auth"} first.', 4408)
            return
        except WebSocketDisconnect:
            return
        except InvalidInput as exc:
            await self._refuse(websocket, exc.code, exc.message, WS_CLOSE["invalid_input"])
            return
        try:
            caller = await self._authenticate(raw, ctx)
        except DomogateError as exc:
            await self._refuse(websocket, exc.code, exc.message, WS_CLOSE.get(exc.code, 4401))
            return

        conn = Connection(websocket, caller, asyncio.Queue(maxsize=settings.ws_send_queue))
        came_online = False
        try:
            self.connections.add(conn)
            conn.sender = asyncio.get_running_loop().create_task(self._send_loop(conn))
            self._ensure_supervisor()
            came_online = self.services.presence.connected(conn.device_id, caller.session.path)
            conn.push(self._hello(conn))
            if conn.is_admin:
                conn.push({"type": "clients", "clients": await self.services.clients.snapshot()})
            if came_online:
                self.services.events.publish(ClientsChanged())
            await self._receive_loop(conn, ctx)
        finally:
            self.connections.discard(conn)
            if not conn.closing:
                conn.close(1000)
            if conn.sender is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(conn.sender, 2)
            if self.services.presence.disconnected(conn.device_id):
                self.services.events.publish(ClientsChanged())

    async def _authenticate(self, raw: str, ctx: RequestContext) -> Caller:
        message = _parse(raw)
        if message.get("type") != "auth" or not isinstance(message.get("token"), str):
            raise Unauthenticated('The first message must be {"type": "auth", "token": …}.')
        return await self.services.auth.authenticate(message["token"], ctx)

    def _hello(self, conn: Connection) -> dict[str, Any]:
        user = conn.caller.user
        return {
            "type": "hello",
            "user": {"id": user.id, "name": user.name, "group": user.group, "admin": user.admin},
            "device": {"id": conn.device_id},
            "session": {"expires_at": conn.caller.session.expires_at.isoformat()},
            "project_version": self.services.project.version,
        }

    async def _receive_loop(self, conn: Connection, ctx: RequestContext) -> None:
        ws = conn.websocket
        while not conn.closing:
            try:
                raw = await _receive_text(ws)
                message = _parse(raw)
            except (WebSocketDisconnect, RuntimeError):
                return
            except InvalidInput as exc:
                conn.close(WS_CLOSE["invalid_input"], exc.code, exc.message)
                return
            kind = message.get("type")
            if kind == "ping":
                conn.push({"type": "pong"})
            elif kind == "auth":
                # Session refresh: a new token of the same device keeps the connection.
                try:
                    caller = await self._authenticate(raw, ctx)
                except DomogateError as exc:
                    conn.close(WS_CLOSE.get(exc.code, 4401), exc.code, exc.message)
                    return
                if caller.session.device_id != conn.device_id:
                    conn.close(WS_CLOSE["invalid_input"], "invalid_input", "Another device.")
                    return
                conn.caller = caller
                conn.push(self._hello(conn))

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


async def _receive_text(websocket: WebSocket) -> str:
    """The next text message; binary frames are a protocol error (``InvalidInput``)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise InvalidInput("Messages must be JSON text frames.")
    return str(text)


def _parse(raw: str) -> dict[str, Any]:
    if len(raw) > WS_MAX_MESSAGE:
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
