"""The live channel ``/api/ws``: authentication, fan-out of events, revocation.

It is served as a raw ASGI endpoint, in front of the FastAPI app (see :class:`LiveFirst`),
because an idle connected client must cost little server memory (DESIGN §8): no framework
objects per connection, and no task per idle connection. Each connection has a bounded
send queue; a task drains it only while it holds messages. A slow client never holds up
the others, and one that cannot keep up is closed (4429) and told why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from domogate.core.accounts import User
from domogate.core.throttle import source_key
from domogate.errors import DomogateError, InvalidInput, TooManyConnections, Unauthenticated
from domogate.services.bus import BusStatus
from domogate.services.container import Services
from domogate.services.context import Caller, RequestContext
from domogate.services.events import (
    BusStatusChanged,
    ClientsChanged,
    DevicesRevoked,
    Event,
    ObjectStateChanged,
    ProjectChanged,
)
from domogate.web.errors import WS_CLOSE

log = logging.getLogger(__name__)

LIVE_PATH = "/api/ws"
WS_MAX_MESSAGE = 64 * 1024  # transport limit for one client message (uvicorn ws_max_size)


class Disconnected(Exception):
    """The client went away."""


class RawSocket:
    """The few WebSocket operations the live channel needs, straight on ASGI."""

    __slots__ = ("closed", "receive", "send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self.send = send
        self.closed = False

    async def receive_text(self) -> str:
        """The next text message; binary frames are a protocol error (``InvalidInput``)."""
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise Disconnected
        text = message.get("text")
        if text is None:
            raise InvalidInput("Messages must be JSON text frames.")
        return str(text)

    async def send_text(self, text: str) -> None:
        if self.closed:
            raise Disconnected
        try:
            await self.send({"type": "websocket.send", "text": text})
        except OSError as exc:  # uvicorn: the peer is gone
            self.closed = True
            raise Disconnected from exc

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.send({"type": "websocket.close", "code": code, "reason": reason})


_CLOSE = "close"


class Connection:
    __slots__ = ("caller", "closing", "limit", "queue", "sender", "socket")

    def __init__(self, socket: RawSocket, caller: Caller, limit: int) -> None:
        self.socket = socket
        self.caller = caller
        self.limit = limit
        self.queue: deque[Any] | None = None  # created on demand: idle clients hold none
        self.closing = False
        self.sender: asyncio.Task[None] | None = None

    @property
    def group(self) -> str:
        return self.caller.user.group

    @property
    def device_id(self) -> str:
        return self.caller.session.device_id

    @property
    def is_admin(self) -> bool:
        return self.caller.user.admin

    def push(self, message: dict[str, Any] | str) -> bool:
        if self.closing:
            return False
        if not self.queue and (self.sender is None or self.sender.done()):
            self._send_now(message if isinstance(message, str) else json.dumps(message))
            return True
        if self.queue is None:
            self.queue = deque()
        elif len(self.queue) >= self.limit:
            self.close(WS_CLOSE["too_slow"], "too_slow", "Too slow to receive updates.")
            return False
        self.queue.append(message)
        self._wake()
        return True

    def close(self, code: int, error_code: str | None = None, message: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        self.queue = deque()  # a closing connection gets no more updates
        if error_code:
            self.queue.append({"type": "error", "error": {"code": error_code, "message": message}})
        self.queue.append((_CLOSE, code, message[:120]))
        self._wake()

    def _send_now(self, text: str) -> None:
        """Send without a task when the transport takes the frame at once (the usual case:
        a fan-out to 1,000 clients then costs no task per client). When the send has to
        wait (a client that does not read), a task finishes it and drains what follows."""
        coro = self.socket.send_text(text)
        try:
            pending = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # gone, or a server that refuses to send any more
            if not isinstance(exc, Disconnected):
                log.debug("send failed; treating the client as gone", exc_info=True)
            self.closing = True
            self.queue = None
            return
        if self.queue is None:
            self.queue = deque()
        self.sender = asyncio.get_running_loop().create_task(self._resume(coro, pending))

    async def _resume(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        try:
            await finish_started(coro, pending)
        except Exception:
            self.closing = True
            self.queue = None
            return
        await self._drain()

    def _wake(self) -> None:
        if self.sender is None or self.sender.done():
            self.sender = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        socket = self.socket
        try:
            while self.queue:
                item = self.queue.popleft()
                if isinstance(item, tuple):
                    await socket.close(item[1], item[2])
                    return
                await socket.send_text(item if isinstance(item, str) else json.dumps(item))
            self.queue = None  # idle again
        except Exception:  # Disconnected, or a server that refuses to send any more
            self.closing = True
            self.queue = None

    async def finish(self) -> None:
        """Wait (briefly) for what is still queued, e.g. a close with its reason."""
        if self.sender is not None and not self.sender.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sender, 2)


async def finish_started(coro: Coroutine[Any, Any, None], pending: Any) -> None:
    """Run to its end a coroutine that was stepped by hand and yielded ``pending`` (what a
    task would have waited on: an asyncio future, or None for a bare yield)."""
    while True:
        try:
            if pending is None:
                await asyncio.sleep(0)
            else:
                pending._asyncio_future_blocking = False
                await asyncio.wait([pending])
        except asyncio.CancelledError:
            coro.close()
            raise
        try:
            pending = coro.send(None)
        except StopIteration:
            return


class LiveHub:
    def __init__(self, services: Services, recheck_interval: float = 0.5) -> None:
        self.services = services
        self.connections: set[Connection] = set()
        self._clients_dirty = False
        self._flush_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._recheck_interval = recheck_interval
        self._stop = asyncio.Event()
        self._refreshing: asyncio.Task[None] | None = None  # after a deploy, see _after_deploy
        # Caps (ConnectionLimits.ws_*): sockets still to authenticate, in total and per
        # source key; authenticated sockets per device and per source key.
        self.unauthenticated = 0
        # Sockets that have not signed in yet, per source, oldest first.
        self._waiting: dict[str, dict[RawSocket, None]] = {}
        self._by_device: dict[str, int] = {}
        self._by_source: dict[str, int] = {}
        services.events.subscribe(self._on_event)

    # --- keeping open connections honest ------------------------------------------------

    async def recheck(self, announce: bool = True) -> list[User]:
        """Close connections whose session ended, whose device or user was revoked (or
        is gone), or whose user expired, and refresh each connection's view of its user
        (an admin may have been demoted by the local maintenance command, a deploy may
        have moved a user to another group). With ``announce``, a connection whose group
        or admin flag changed gets a new ``hello`` and the states its group may now see.
        Returns the users it read (none when there is no connection to check)."""
        if not self.connections:
            return []
        now = self.services.clock.now()
        listed = await self.services.store.list_users()
        users = {u.id: u for u in listed}
        # Defence in depth: a revoked device's sessions are closed when it is revoked;
        # should one survive, its device still ends its live connections here.
        devices = {d.id: d.revoked_at is None for d in await self.services.store.list_devices()}
        for conn in list(self.connections):
            if conn.closing:
                continue
            session = conn.caller.session
            user = users.get(session.user_id)
            if not self.services.sessions.is_open(session.token_hash, now):
                conn.close(WS_CLOSE["unauthenticated"], "unauthenticated", "Session ended.")
            elif not devices.get(session.device_id, False):
                conn.close(WS_CLOSE["revoked"], "revoked", "This device has been revoked.")
            elif user is None or user.revoked_at is not None:
                conn.close(WS_CLOSE["revoked"], "revoked", "Access has been revoked.")
            elif user.is_account_expired(now):
                conn.close(WS_CLOSE["account_expired"], "account_expired", "Account expired.")
            elif user != conn.caller.user:
                before = conn.caller.user
                conn.caller = replace(conn.caller, user=user)
                if announce and (before.group, before.admin) != (user.group, user.admin):
                    self._announce(conn)
        return listed

    def _announce(self, conn: Connection) -> None:
        """Tell a connection who it is now and what it may see."""
        conn.push(self._hello(conn))
        conn.push(self._states_text(conn.group))
        if conn.is_admin:
            conn.push(_bus_message(self.services.objects.bus_status))
            self._schedule_clients_push()

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
        if isinstance(event, ObjectStateChanged):
            self._fan_out_state(event)
        elif isinstance(event, ProjectChanged):
            previous = self._refreshing
            self._refreshing = asyncio.get_running_loop().create_task(
                self._after_deploy(event.version, previous)
            )
        elif isinstance(event, BusStatusChanged):
            text = json.dumps(_bus_message(event.status))
            for conn in list(self.connections):
                if conn.is_admin:
                    conn.push(text)
        elif isinstance(event, DevicesRevoked):
            for conn in list(self.connections):
                if conn.device_id in event.device_ids:
                    conn.close(WS_CLOSE["revoked"], event.code, event.message)
        elif isinstance(event, ClientsChanged):
            self._schedule_clients_push()

    async def _after_deploy(self, version: int, previous: asyncio.Task[None] | None) -> None:
        """A deploy may move users between groups: read them again before telling anyone
        what they may now see (commands wait for this; state changes meanwhile are in the
        complete states sent at the end)."""
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        try:
            await self.recheck(announce=False)
        except Exception:
            log.exception("could not recheck live connections after a deploy")
        text = json.dumps({"type": "project", "version": version})
        states: dict[str, str] = {}  # one serialisation per group
        for conn in list(self.connections):
            if conn.closing:
                continue
            conn.push(text)
            group = conn.group
            if group not in states:
                states[group] = self._states_text(group)
            conn.push(states[group])
            if conn.is_admin:
                conn.push(_bus_message(self.services.objects.bus_status))

    def _fan_out_state(self, event: ObjectStateChanged) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            return  # the complete states follow the deploy's recheck
        text = json.dumps({"type": "state", "object": event.object_id, "state": event.state})
        groups = event.visible_to
        for conn in list(self.connections):
            if groups is None or conn.group in groups:
                conn.push(text)

    def _states_text(self, group: str) -> str:
        return json.dumps({"type": "states", "states": self.services.objects.states_for(group)})

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
                users = await self.recheck()  # never send the list to someone no longer admin
            except Exception:
                log.exception("could not recheck live connections")
                return
            admins = [c for c in self.connections if c.is_admin and not c.closing]
            if not admins:
                continue
            try:
                clients = await self.services.clients.snapshot(users)
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
        for task in (self._supervisor, self._flush_task, self._refreshing):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 5)

    # --- one connection ---------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The raw ASGI endpoint of ``/api/ws``."""
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        client = scope.get("client")
        await self.serve(RawSocket(receive, send), client[0] if client else "unknown")

    async def serve(self, socket: RawSocket, host: str) -> None:
        settings = self.services.settings
        limits = settings.connections
        ctx = RequestContext(source=host)
        source = source_key(host)
        waiting = self._waiting.setdefault(source, {})
        if len(waiting) >= limits.ws_unauthenticated_per_address or (
            self.unauthenticated >= limits.ws_unauthenticated
            and not await self._make_room_for(source)
        ):
            if not waiting:
                del self._waiting[source]
            await self._refuse_busy(
                socket, "Too many live connections waiting to sign in; try again later."
            )
            return
        waiting[socket] = None
        self.unauthenticated += 1
        try:
            caller = await self._first_auth(socket, ctx)
        finally:
            self.unauthenticated -= 1
            waiting.pop(socket, None)
            if not waiting and self._waiting.get(source) is waiting:
                del self._waiting[source]
        if caller is None:
            return
        device_id = caller.session.device_id
        if self._by_device.get(device_id, 0) >= limits.ws_per_device:
            await self._refuse_busy(
                socket,
                f"This device has {limits.ws_per_device} live connections open already; "
                "close one first.",
            )
            return
        if self._by_source.get(source, 0) >= limits.ws_per_address:
            await self._refuse_busy(
                socket, "Too many live connections from your address; try again later."
            )
            return
        _count(self._by_device, device_id, 1)
        _count(self._by_source, source, 1)
        try:
            await self._serve_signed_in(socket, caller, ctx)
        finally:
            _count(self._by_device, device_id, -1)
            _count(self._by_source, source, -1)

    async def _make_room_for(self, source: str) -> bool:
        """At the total cap of sockets waiting to sign in: the source holding the most of
        them gives up its oldest, when it holds more than the newcomer's source (a few
        flooding sources cannot keep everyone else's live channel out)."""
        if not self._waiting:
            return False
        victim_source = max(self._waiting, key=lambda k: len(self._waiting[k]))
        mine = len(self._waiting.get(source, {}))
        if victim_source == source or len(self._waiting[victim_source]) <= mine + 1:
            return False
        oldest = next(iter(self._waiting[victim_source]))
        del self._waiting[victim_source][oldest]  # its own exit finds it gone: fine
        await self._refuse_busy(oldest, "Closed to make room for others; sign in sooner.")
        return True

    async def _first_auth(self, socket: RawSocket, ctx: RequestContext) -> Caller | None:
        """The caller of the first message (which must be an ``auth``), or None when the
        socket was refused or went away."""
        try:
            raw = await asyncio.wait_for(
                socket.receive_text(), self.services.settings.ws_auth_timeout_s
            )
        except TimeoutError:
            await self._refuse(socket, "auth_timeout", 'Send {"type": "auth"} first.', 4408)
            return None
        except Disconnected:
            return None
        except InvalidInput as exc:
            await self._refuse(socket, exc.code, exc.message, WS_CLOSE["invalid_input"])
            return None
        try:
            return await self._authenticate(raw, ctx)
        except DomogateError as exc:
            await self._refuse(socket, exc.code, exc.message, WS_CLOSE.get(exc.code, 4401))
            return None

    async def _serve_signed_in(
        self, socket: RawSocket, caller: Caller, ctx: RequestContext
    ) -> None:
        conn = Connection(socket, caller, self.services.settings.ws_send_queue)
        came_online = False
        try:
            self.connections.add(conn)
            self._ensure_supervisor()
            came_online = self.services.presence.connected(conn.device_id, caller.session.path)
            conn.push(self._hello(conn))
            conn.push(self._states_text(conn.group))
            if conn.is_admin:
                conn.push(_bus_message(self.services.objects.bus_status))
                conn.push({"type": "clients", "clients": await self.services.clients.snapshot()})
            if came_online:
                self.services.events.publish(ClientsChanged())
            await self._receive_loop(conn, ctx)
        finally:
            self.connections.discard(conn)
            if not conn.closing:
                conn.close(1000)
            await conn.finish()
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
        socket = conn.socket
        while not conn.closing:
            try:
                raw = await socket.receive_text()
                message = _parse(raw)
            except Disconnected:
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
            elif kind == "command":
                await self._command(conn, message)
            else:  # answered, not fatal: a newer client may know more message types
                error = InvalidInput(f"Unknown message type {kind!r}.")
                conn.push({"type": "error", "error": error.to_dict()})

    async def _command(self, conn: Connection, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        reply: dict[str, Any] = {"type": "result", "id": request_id}
        try:
            object_id, attribute = message.get("object"), message.get("attribute")
            if not isinstance(object_id, str) or not isinstance(attribute, str):
                raise InvalidInput('A command needs "object" and "attribute" (text) and "value".')
            if "value" not in message:
                raise InvalidInput('A command needs a "value".')
            if request_id is not None and not isinstance(request_id, str | int):
                raise InvalidInput('"id" must be text or a number.')
            if self._refreshing is not None and not self._refreshing.done():
                await asyncio.shield(self._refreshing)  # a deploy may have moved this user
            await self.services.objects.command(conn.caller, object_id, attribute, message["value"])
            reply["ok"] = True
        except DomogateError as exc:
            reply["ok"] = False
            reply["error"] = exc.to_dict()
        except Exception:
            log.exception("command failed")
            reply["ok"] = False
            reply["error"] = DomogateError().to_dict()
        conn.push(reply)

    @classmethod
    async def _refuse_busy(cls, socket: RawSocket, message: str) -> None:
        error = TooManyConnections(message)
        await cls._refuse(socket, error.code, error.message, WS_CLOSE[error.code])

    @staticmethod
    async def _refuse(socket: RawSocket, code: str, message: str, close_code: int) -> None:
        with contextlib.suppress(Exception):
            await socket.send_text(
                json.dumps({"type": "error", "error": {"code": code, "message": message}})
            )
        await socket.close(close_code, code)


def _count(counts: dict[str, int], key: str, delta: int) -> None:
    value = counts.get(key, 0) + delta
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)


def _bus_message(status: BusStatus) -> dict[str, Any]:
    return {
        "type": "bus",
        "adapter": status.adapter,
        "connected": status.connected,
        "detail": status.detail,
    }


def _parse(raw: str) -> dict[str, Any]:
    if len(raw) > WS_MAX_MESSAGE:
        raise InvalidInput("Message too large.")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("Messages must be JSON objects.") from exc
    if not isinstance(message, dict):
        raise InvalidInput("Messages must be JSON objects.")
    return message


class LiveFirst:
    """Outermost ASGI layer: ``/api/ws`` goes straight to the live hub, everything else to
    the FastAPI app (whose middleware would otherwise stay on every idle connection)."""

    def __init__(self, app: ASGIApp, hub: LiveHub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == LIVE_PATH:
            await self.hub.asgi(scope, receive, send)
        else:
            await self.app(scope, receive, send)
