"""The live hub: admission of sockets (caps), the signed-in receive loop, and the fan-out
of events (states, bus status, the client list, deploys) to the connections that may see
them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

import domogate.web.live.protocol as protocol
from domogate.core.accounts import ConnectionPath
from domogate.core.commandorder import CommandOrder, Verdict, numbered
from domogate.core.throttle import source_key
from domogate.errors import (
    CommandStale,
    DomogateError,
    InvalidInput,
    OriginRefused,
    TooManyConnections,
    Unauthenticated,
)
from domogate.services.container import Services
from domogate.services.context import Caller, RequestContext
from domogate.services.events import (
    BusStatusChanged,
    ClientsChanged,
    CloudLinkChanged,
    Event,
    ObjectStateChanged,
    ProjectChanged,
    UpdateChanged,
)
from domogate.web.errors import WS_CLOSE
from domogate.web.live.connection import Connection
from domogate.web.live.transport import Disconnected, RawSocket
from domogate.web.paths import path_of_scope
from domogate.web.views import clients_json

log = logging.getLogger(__name__)


class OriginCheck(Protocol):
    """What the hub needs to refuse a handshake from another origin
    (``web.origins.OwnOrigins``)."""

    def refused(self, scope: Mapping[str, Any]) -> str | None: ...


class LiveHub:
    def __init__(self, services: Services, origins: OriginCheck | None = None) -> None:
        self.services = services
        self.origins = origins
        self.connections: set[Connection] = set()
        self._clients_dirty = False
        self._flush_task: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None  # after a deploy, see _after_deploy
        # Caps (ConnectionLimits.ws_*): sockets still to authenticate, in total and per
        # source key; authenticated sockets per device and per source key.
        self.unauthenticated = 0
        # Sockets that have not signed in yet, per source, oldest first.
        self._waiting: dict[str, dict[RawSocket, None]] = {}
        self._by_device: dict[str, int] = {}
        self._by_source: dict[str, int] = {}
        self._order = CommandOrder()  # a page's commands across its paths (core/commandorder)
        services.events.subscribe(self._on_event)

    # --- keeping open connections honest ------------------------------------------------

    async def recheck(self, announce: bool = True) -> None:
        """Have the services decide again, from the store, for every open connection
        (they close those that may not continue and refresh the others' view of their
        user). Run on changes only: after a deploy, before the client list goes out, and
        when a test or an operator asks; revocation, logout and expiry are pushed."""
        await self.services.auth.recheck_live(announce=announce)

    def account_changed(self, conn: Connection, before: Caller, announce: bool) -> None:
        """A connection's account changed: with ``announce``, a connection whose group or
        admin flag changed gets a new ``hello`` and the states its group may now see."""
        user = conn.caller.user
        if announce and (before.user.group, before.user.admin) != (user.group, user.admin):
            self._announce(conn)

    def _announce(self, conn: Connection) -> None:
        """Tell a connection who it is now and what it may see."""
        conn.push(self._hello(conn))
        conn.push(self._states_text(conn.group))
        if conn.is_admin:
            conn.push(protocol.bus_message(self.services.objects.bus_status))
            conn.push(protocol.cloud_message(self.services.cloud.state))
            self._push_update(conn)
            self._schedule_clients_push()

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
            text = json.dumps(protocol.bus_message(event.status))
            for conn in list(self.connections):
                if conn.is_admin:
                    conn.push(text)
        elif isinstance(event, ClientsChanged):
            self._schedule_clients_push()
        elif isinstance(event, CloudLinkChanged):
            text = json.dumps(protocol.cloud_message(event.state))
            for conn in list(self.connections):
                if conn.is_admin:
                    conn.push(text)
        elif isinstance(event, UpdateChanged):
            text = json.dumps(protocol.update_message(event.status))
            for conn in list(self.connections):
                if conn.is_admin:
                    conn.push(text)

    def _push_update(self, conn: Connection) -> None:
        """An admin's first messages tell of a version available or refused (if any)."""
        status = self.services.updates.status
        if status.available is not None or status.refused is not None:
            conn.push(protocol.update_message(status))

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
                conn.push(protocol.bus_message(self.services.objects.bus_status))

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
                await self.recheck()  # never send the list to someone no longer admin
            except Exception:
                log.exception("could not recheck live connections")
                return
            admins = [c for c in self.connections if c.is_admin and not c.closing]
            if not admins:
                continue
            try:
                clients = clients_json(await self.services.clients.snapshot())
            except Exception:
                log.exception("could not build the client list")
                return
            text = json.dumps({"type": "clients", "clients": clients})
            for conn in admins:
                conn.push(text)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.close(1001, None, "server shutting down")
        for task in (self._flush_task, self._refreshing):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 5)

    # --- one connection ---------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The raw ASGI endpoint of ``/api/ws``."""
        if (await receive())["type"] != "websocket.connect":
            return
        if self.origins is not None and self.origins.refused(scope) is not None:
            await self._refuse_origin(scope, send)
            return
        await send({"type": "websocket.accept"})
        client = scope.get("client")
        await self.serve(
            RawSocket(receive, send), client[0] if client else "unknown", path_of_scope(scope)
        )

    async def serve(
        self, socket: RawSocket, host: str, path: ConnectionPath = ConnectionPath.LOCAL
    ) -> None:
        settings = self.services.settings
        limits = settings.connections
        ctx = RequestContext(source=host, path=path)
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
        conn = Connection(socket, caller, self.services.settings.ws_send_queue, self)
        auth = self.services.auth
        shown_changed = False
        path = caller.session.path  # the socket's path: a renewed session keeps it
        registered = False
        try:
            self.connections.add(conn)
            conn.watch = auth.watch(caller, conn)  # told, not polled, when access ends
            shown_changed = self.services.clients.connected(conn.device_id, path)
            registered = True
            conn.push(self._hello(conn))
            conn.push(self._states_text(conn.group))
            if conn.is_admin:
                conn.push(protocol.bus_message(self.services.objects.bus_status))
                conn.push(protocol.cloud_message(self.services.cloud.state))
                self._push_update(conn)
                clients = clients_json(await self.services.clients.snapshot())
                conn.push({"type": "clients", "clients": clients})
            if shown_changed:
                self.services.clients.presence_changed()
            await self._receive_loop(conn, ctx)
        finally:
            self.connections.discard(conn)
            if conn.watch is not None:
                auth.unwatch(conn.watch)
                conn.watch = None
            if not conn.closing:
                conn.close(1000)
            await conn.finish()
            if registered and self.services.clients.disconnected(conn.device_id, path):
                self.services.clients.presence_changed()

    async def _authenticate(self, raw: str, ctx: RequestContext) -> Caller:
        message = protocol.parse(raw)
        if message.get("type") != "auth" or not isinstance(message.get("token"), str):
            raise Unauthenticated('The first message must be {"type": "auth", "token": …}.')
        return await self.services.auth.authenticate(message["token"], ctx)

    def _hello(self, conn: Connection) -> dict[str, Any]:
        return protocol.hello(conn.caller, self.services.project.version)

    async def _receive_loop(self, conn: Connection, ctx: RequestContext) -> None:
        socket = conn.socket
        while not conn.closing:
            try:
                raw = await socket.receive_text()
                message = protocol.parse(raw)
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
                if conn.watch is not None:
                    self.services.auth.unwatch(conn.watch)
                conn.caller = caller
                conn.watch = self.services.auth.watch(caller, conn)
                conn.push(self._hello(conn))
            elif kind == "command":
                await self._command(conn, message)
            else:  # answered, not fatal: a newer client may know more message types
                error = InvalidInput(f"Unknown message type {kind!r}.")
                conn.push({"type": "error", "error": error.to_dict()})

    async def _command(self, conn: Connection, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        reply: dict[str, Any] = {"type": "result", "id": request_id}
        ordered: tuple[str, tuple[str, str], int] | None = None  # (tab, target, seq)
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
            number = numbered(message.get("tab"), message.get("seq"))
            if number is not None:
                ordered = (number[0], (object_id, attribute), number[1])
                admission = self._order.admit(conn.device_id, *ordered)
                if admission.verdict is Verdict.STALE:
                    raise CommandStale()
                if admission.verdict is Verdict.DUPLICATE:  # the other path delivered it
                    conn.push({**reply, **(admission.answer or {"ok": True}), "duplicate": True})
                    return
            await self.services.objects.command(conn.caller, object_id, attribute, message["value"])
            reply["ok"] = True
        except DomogateError as exc:
            reply["ok"] = False
            reply["error"] = exc.to_dict()
        except Exception:
            log.exception("command failed")
            reply["ok"] = False
            reply["error"] = DomogateError().to_dict()
        if ordered is not None and reply.get("error", {}).get("code") != CommandStale.code:
            answer = {"ok": reply["ok"], **({"error": reply["error"]} if "error" in reply else {})}
            self._order.ran(conn.device_id, *ordered, answer)
        conn.push(reply)

    @staticmethod
    async def _refuse_origin(scope: Scope, send: Send) -> None:
        """Refuse the upgrade itself: 403 with the error as JSON where the server can send
        an HTTP answer to a WebSocket request, else a close before accepting (403 too)."""
        error = OriginRefused()
        if "websocket.http.response" in scope.get("extensions", {}):
            body = json.dumps({"error": error.to_dict()}).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    @staticmethod
    async def _refuse_busy(socket: RawSocket, message: str) -> None:
        error = TooManyConnections(message)
        await protocol.refuse(socket, error.code, error.message, WS_CLOSE[error.code])

    @staticmethod
    async def _refuse(socket: RawSocket, code: str, message: str, close_code: int) -> None:
        await protocol.refuse(socket, code, message, close_code)


def _count(counts: dict[str, int], key: str, delta: int) -> None:
    value = counts.get(key, 0) + delta
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)
