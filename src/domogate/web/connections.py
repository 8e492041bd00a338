"""Connection-level guards in front of uvicorn (DESIGN §5, "Floods cost the attacker").

uvicorn's own server hands a connection to its protocol only after the TLS handshake
(asyncio gives that handshake 60 s), keeps a connection that never completes a request
head open for as long as the peer likes, and accepts connections until the process runs
out of open files. :class:`GuardedServer` runs its own accept loop on the listening
socket instead:

- a connection is counted from ``accept``, in total and per source address (IPv6 by
  /64, :func:`domogate.core.throttle.source_key`), *before* any TLS work;
- it must finish its TLS handshake and its first request head within
  ``head_timeout_s``; a later request head on a keep-alive connection must finish within
  the same time once its first byte arrived; otherwise the socket is closed;
- over a cap, a connection that has not sent a request head is closed to make room: at
  the per-address cap, the address's oldest one if it is older than
  ``evict_idle_after_s``; at the total cap, the oldest one of the address holding most
  of them, at once if that address holds more connections than the newcomer's (else
  only when older than ``evict_idle_after_s``); when there is none, the newcomer is
  refused: while fewer than ``refusals`` refusals are under way it is
  answered ``503`` with ``{"error": {"code": "too_many_connections", …}}`` and
  ``Retry-After`` (after its TLS handshake and request head), otherwise its socket is
  closed at once, before TLS;
- the caps are lowered to what the process's open-file limit allows (the soft limit is
  raised towards the hard one first), so that a flood never takes the server's own
  files (database, certificate, static files) away.

A connection is counted per socket, and released exactly once, whatever protocol holds
it at the end (after a WebSocket upgrade uvicorn moves the transport to the WebSocket
protocol and never tells the HTTP protocol that the connection is gone).

This relies on uvicorn internals (``Server.startup``, ``H11Protocol``,
``WebSocketsSansIOProtocol``); ``pyproject.toml`` pins the uvicorn versions it was
checked against.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import logging
import resource
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import h11
import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from domogate.core.throttle import source_key
from domogate.errors import TooManyConnections
from domogate.settings import ConnectionLimits

log = logging.getLogger("domogate.connections")

REFUSAL_TIMEOUT_S = 3.0  # a refused client gets this long for its handshake and head
REFUSAL_LINGER_S = 0.5  # after the 503, time for the client to read it and close
REFUSAL_HEAD_MAX = 16 * 1024
SSL_SHUTDOWN_TIMEOUT_S = 5.0  # asyncio waits 30 s for a peer's close_notify by default
RETRY_AFTER_S = 5
MIN_BODY_RATE = 1024.0  # bytes per second a request body must average after the grace
ACCEPT_PAUSE_S = 0.1  # when accept() itself fails for want of file descriptors
_ACCEPT_ERRORS_PAUSE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


# --- limits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveLimits:
    """The caps in force: the configured ones, lowered to fit the open-file limit."""

    head_timeout_s: float
    total: int
    per_address: int
    refusals: int
    evict_idle_after_s: float
    open_files: int | None = None
    lowered: bool = False  # the open-file limit lowered ``total``


def fd_reserve(open_files: int) -> int:
    """File descriptors kept for the server itself (database, logs, certificate, static
    files, the event loop): 32, plus 1 in 32."""
    return 32 + open_files // 32


def wanted_open_files(limits: ConnectionLimits) -> int:
    sockets = limits.total + limits.refusals
    return sockets + fd_reserve(sockets) + sockets // 31 + 1


def raise_open_files(wanted: int) -> int | None:
    """Raise the soft open-file limit towards ``wanted`` (never above the hard limit);
    the soft limit in force afterwards (None: unlimited or unknown)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # pragma: no cover - not on Linux
        return None
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target > soft:
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
    return None if soft == resource.RLIM_INFINITY else int(soft)


def effective_limits(limits: ConnectionLimits, open_files: int | None) -> EffectiveLimits:
    total, refusals, per_address = limits.total, limits.refusals, limits.per_address
    lowered = False
    if open_files is not None:
        budget = max(4, open_files - fd_reserve(open_files))
        refusals = min(refusals, max(1, budget // 16))
        if total > budget - refusals:
            total = budget - refusals
            lowered = True
            # One address may not take every socket the process can hold.
            per_address = min(per_address, max(1, total // 2))
    return EffectiveLimits(
        head_timeout_s=limits.head_timeout_s,
        total=max(1, total),
        per_address=max(1, min(per_address, total)),
        refusals=max(0, refusals),
        evict_idle_after_s=limits.evict_idle_after_s,
        open_files=open_files,
        lowered=lowered,
    )


# --- counting -------------------------------------------------------------------------


class Slot:
    """One accepted socket, counted until :meth:`release` (called exactly once)."""

    __slots__ = (
        "body_bytes", "body_started", "gate", "key", "opened", "pending", "released", "sock",
        "task", "timer", "transport",
    )  # fmt: skip

    def __init__(self, gate: ConnectionGate, key: str, opened: float) -> None:
        self.gate = gate
        self.key = key
        self.opened = opened
        self.pending = True  # no complete request head yet (may be closed to make room)
        self.released = False
        self.sock: socket.socket | None = None
        self.task: asyncio.Task[None] | None = None  # the TLS handshake under way
        self.timer: asyncio.TimerHandle | None = None  # the head deadline
        self.transport: asyncio.BaseTransport | None = None
        self.body_started: float | None = None  # monotonic, while a request body arrives
        self.body_bytes = 0

    def body_progress(self, nbytes: int) -> None:
        """A request body is arriving: it must keep coming. The deadline is the head
        timeout after the body began, plus one second per ``MIN_BODY_RATE`` bytes received
        (holding a socket open costs the sender bandwidth, not the server a slot)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.body_started is None:
            self.body_started = now
            self.body_bytes = 0
        self.body_bytes += nbytes
        deadline = (
            self.body_started + self.gate.limits.head_timeout_s + self.body_bytes / MIN_BODY_RATE
        )
        if self.timer is not None:
            self.timer.cancel()
        if not self.released:
            self.timer = loop.call_at(deadline, self.expire_body)

    def body_done(self) -> None:
        self.body_started = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def expire_body(self) -> None:
        self.timer = None
        log.debug("closing a connection from %s: its request body stalled", self.key)
        self.close()

    def arm(self) -> None:
        """Start the head deadline (if not running)."""
        if self.timer is None and not self.released:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.gate.limits.head_timeout_s, self.expire)

    def head_done(self) -> None:
        """A request head is complete: stop the deadline, and the first time, the slot
        is no longer one that a newcomer may close."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            self.pending = False
            self.gate._unpend(self)

    def expire(self) -> None:
        self.timer = None
        log.debug("closing a connection from %s: no request head in time", self.key)
        self.close()

    def close(self) -> None:
        """Close the socket now, wherever it is (handshake, HTTP, WebSocket)."""
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]
        elif self.task is not None:
            self.task.cancel()
        elif self.sock is not None:
            self.sock.close()
        if self.transport is None:  # no protocol will report the loss
            self.release()

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.transport = None  # no cycle through the protocol (the socket: see _connected)
        self.gate._release(self)


class ConnectionGate:
    """Counts connections in total and per source key; decides who comes in."""

    def __init__(self, limits: EffectiveLimits) -> None:
        self.limits = limits
        self.total = 0
        self.per_key: dict[str, int] = {}
        # Slots without a complete request head, oldest first (dicts keep order).
        self.pending: dict[Slot, None] = {}
        self.pending_by_key: dict[str, dict[Slot, None]] = {}
        self.refusing = 0
        self.refused = 0
        self.evicted = 0

    def admit(self, key: str, now: float) -> Slot | None:
        """A slot for a new connection from ``key``, or None: refuse it."""
        limits = self.limits
        if self.per_key.get(key, 0) >= limits.per_address and not self._evict_own(key, now):
            return None
        if self.total >= limits.total and not self._evict_any(key, now):
            return None
        slot = Slot(self, key, now)
        self.total += 1
        self.per_key[key] = self.per_key.get(key, 0) + 1
        self.pending[slot] = None
        self.pending_by_key.setdefault(key, {})[slot] = None
        return slot

    def _evict_own(self, key: str, now: float) -> bool:
        """At the per-address cap: the address's oldest connection without a request head
        makes room, if it had time enough to send one."""
        pending = self.pending_by_key.get(key)
        if not pending:
            return False
        oldest = next(iter(pending))
        if now - oldest.opened < self.limits.evict_idle_after_s:
            return False
        self._evict(oldest)
        return True

    def _evict_any(self, key: str, now: float) -> bool:
        """At the total cap: the oldest connection without a request head of the address
        holding the most such connections makes room, at once when that address holds
        more connections than the newcomer's (a flood from a few addresses cannot lock
        out the others), or once it had time enough to send a head."""
        if not self.pending_by_key:
            return False
        # Only addresses with connections waiting for a head: few, unless under attack.
        victim_key = max(self.pending_by_key, key=lambda k: len(self.pending_by_key[k]))
        oldest = next(iter(self.pending_by_key[victim_key]))
        bigger = (
            victim_key != key and self.per_key.get(victim_key, 0) > self.per_key.get(key, 0) + 1
        )
        if not bigger and now - oldest.opened < self.limits.evict_idle_after_s:
            return False
        self._evict(oldest)
        return True

    def _evict(self, slot: Slot) -> None:
        self.evicted += 1
        log.debug("closing an idle connection from %s to make room", slot.key)
        slot.close()
        slot.release()  # counted out now; its protocol's report comes later

    def _unpend(self, slot: Slot) -> None:
        self.pending.pop(slot, None)
        of_key = self.pending_by_key.get(slot.key)
        if of_key is not None:
            of_key.pop(slot, None)
            if not of_key:
                del self.pending_by_key[slot.key]

    def _release(self, slot: Slot) -> None:
        self._unpend(slot)
        self.total -= 1
        left = self.per_key.get(slot.key, 0) - 1
        if left > 0:
            self.per_key[slot.key] = left
        else:
            self.per_key.pop(slot.key, None)

    def close_pending(self) -> None:
        """At shutdown: close every connection that has not sent a request head."""
        for slot in list(self.pending):
            slot.close()


# --- protocols ------------------------------------------------------------------------


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on request heads."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        slot: Slot | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.slot = slot
        if slot is not None and self.ws_protocol_class is not None:
            self.ws_protocol_class = functools.partial(  # type: ignore[assignment]
                GuardedWebSocketProtocol, slot=slot
            )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.slot is not None:
            self.slot.transport = transport
            self.slot.task = None
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self.slot is not None:
                self.slot.release()

    def data_received(self, data: bytes) -> None:
        waiting_for_head = self.conn.their_state is h11.IDLE
        super().data_received(data)
        slot = self.slot
        if slot is None:
            return
        state = self.conn.their_state
        if state is not h11.IDLE:  # a request head is complete
            slot.head_done()
            if state is h11.SEND_BODY:  # its body must keep coming, read or not
                slot.body_progress(len(data))
            else:
                slot.body_done()
        elif waiting_for_head and data:
            slot.body_done()
            slot.arm()  # a head has begun: it must finish in time


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol that releases its connection's slot."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        slot: Slot | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.slot = slot

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self.slot is not None:
                self.slot.release()


def refusal_response(retry_after: int = RETRY_AFTER_S) -> bytes:
    error = TooManyConnections(
        f"Too many connections to this server from your address or in total; "
        f"try again in {retry_after} s."
    )
    body = json.dumps({"error": error.to_dict()}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"retry-after: {retry_after}\r\n"
        "cache-control: no-store\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class RefusalProtocol(asyncio.Protocol):
    """Reads one request head (bounded), answers 503, closes."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buffer = b""
        self.answered = False
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.answered or self.transport is None:
            return  # the rest of the request: read and dropped
        self.buffer += data
        if b"\r\n\r\n" in self.buffer or len(self.buffer) > REFUSAL_HEAD_MAX:
            self.answered = True
            self.buffer = b""
            self.transport.write(self.response)
            asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, self.transport.close)

    def eof_received(self) -> bool | None:
        return None  # close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


# --- accepting ------------------------------------------------------------------------


class Acceptor(asyncio.AbstractServer):
    """The accept loop on one listening socket (stands in uvicorn's ``servers`` list:
    ``close`` and ``wait_closed`` are what uvicorn's shutdown calls)."""

    def __init__(
        self,
        sock: socket.socket,
        gate: ConnectionGate,
        protocol_factory: Callable[[Slot], asyncio.Protocol],
        ssl_context: ssl.SSLContext | None,
        backlog: int = 128,
    ) -> None:
        self.sock = sock
        self.gate = gate
        self.protocol_factory = protocol_factory
        self.ssl = ssl_context
        self.backlog = max(1, backlog)
        self.batch = min(self.backlog, 16)  # accepts per wake-up
        self.loop = asyncio.get_running_loop()
        self.serving = False
        self.tasks: set[asyncio.Task[None]] = set()
        self._resume: asyncio.TimerHandle | None = None
        self._warned = False
        self.refusal = refusal_response()

    # asyncio.AbstractServer
    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    def is_serving(self) -> bool:
        return self.serving

    async def start_serving(self) -> None:
        self.start()

    async def serve_forever(self) -> None:  # pragma: no cover - uvicorn does not call it
        self.start()
        await asyncio.Event().wait()

    def start(self) -> None:
        if self.serving:
            return
        self.serving = True
        self.sock.setblocking(False)
        self.sock.listen(self.backlog)
        self.loop.add_reader(self.sock.fileno(), self._on_readable)

    def close(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if self.serving:
            self.serving = False
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.sock.fileno())
        self.gate.close_pending()
        for task in list(self.tasks):
            task.cancel()

    async def wait_closed(self) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=REFUSAL_TIMEOUT_S + 1)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self.sock,)

    # accepting
    def _on_readable(self) -> None:
        evicted = self.gate.evicted
        for _ in range(self.batch):
            if self.gate.evicted != evicted:
                # A closed connection gives its file back on the loop's next rounds:
                # accept again then, so that files never run short in between.
                return
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_ERRORS_PAUSE:
                    self._pause(exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                log.warning("accept failed: %s", exc)
                return
            self._accepted(conn, addr)

    def _pause(self, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("cannot accept connections: %s; pausing", exc.strerror or exc)
        if self.serving and self._resume is None:
            self.loop.remove_reader(self.sock.fileno())

            def resume() -> None:
                self._resume = None
                if self.serving:
                    self.loop.add_reader(self.sock.fileno(), self._on_readable)

            self._resume = self.loop.call_later(ACCEPT_PAUSE_S, resume)

    def _accepted(self, conn: socket.socket, addr: Any) -> None:
        conn.setblocking(False)
        host = str(addr[0]) if isinstance(addr, tuple) and addr else "local"
        slot = self.gate.admit(source_key(host), self.loop.time())
        if slot is None:
            self._refuse(conn)
            return
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        slot.sock = conn
        slot.arm()  # the TLS handshake and the first head share the deadline
        task = self.loop.create_task(self._connect(slot, conn))
        slot.task = task
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._connected, slot))

    async def _connect(self, slot: Slot, conn: socket.socket) -> None:
        def protocol() -> asyncio.Protocol:
            slot.sock = None  # asyncio's transport owns the socket from here
            return self.protocol_factory(slot)

        tls = self.ssl is not None
        await self.loop.connect_accepted_socket(
            protocol,
            conn,
            ssl=self.ssl,
            # A backstop only: the slot's deadline closes it first.
            ssl_handshake_timeout=2 * self.gate.limits.head_timeout_s + 1 if tls else None,
            ssl_shutdown_timeout=SSL_SHUTDOWN_TIMEOUT_S if tls else None,
        )

    def _connected(self, slot: Slot, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        slot.task = None
        failed = task.cancelled() or task.exception() is not None
        if failed:  # refused handshake, deadline, eviction, shutdown: nothing to serve
            if slot.sock is not None:  # cancelled before asyncio took the socket
                slot.sock.close()
                slot.sock = None
            if slot.transport is None:
                slot.release()

    def _refuse(self, conn: socket.socket) -> None:
        gate = self.gate
        gate.refused += 1
        if gate.refusing >= gate.limits.refusals:
            conn.close()  # no answer: it would cost a TLS handshake
            return
        gate.refusing += 1
        holder: list[socket.socket | None] = [conn]
        task = self.loop.create_task(self._answer_refusal(holder))
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._refusal_done, holder))

    async def _answer_refusal(self, holder: list[socket.socket | None]) -> None:
        conn = holder[0]
        assert conn is not None

        def protocol() -> RefusalProtocol:
            holder[0] = None  # asyncio's transport owns the socket from here
            return RefusalProtocol(self.refusal)

        tls = self.ssl is not None
        transport: asyncio.BaseTransport | None = None
        try:
            async with asyncio.timeout(REFUSAL_TIMEOUT_S):
                transport, refusal = await self.loop.connect_accepted_socket(
                    protocol,
                    conn,
                    ssl=self.ssl,
                    ssl_handshake_timeout=REFUSAL_TIMEOUT_S if tls else None,
                    ssl_shutdown_timeout=1.0 if tls else None,
                )
                await refusal.done
        finally:
            if transport is not None and not transport.is_closing():
                transport.abort()  # type: ignore[attr-defined]

    def _refusal_done(self, holder: list[socket.socket | None], task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.gate.refusing -= 1
        if not task.cancelled():
            task.exception()  # retrieved: a refusal that fails is no news
        conn = holder[0]
        if conn is not None:
            conn.close()
            holder[0] = None


class GuardedServer(uvicorn.Server):
    """uvicorn's server with domogate's accept loop (see the module's docstring). It
    serves the sockets it is given (``serve(sockets=[…])``)."""

    def __init__(self, config: Config, limits: ConnectionLimits | EffectiveLimits) -> None:
        super().__init__(config)
        self.limits = (
            limits
            if isinstance(limits, EffectiveLimits)
            else effective_limits(limits, raise_open_files(wanted_open_files(limits)))
        )
        self.gate = ConnectionGate(self.limits)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets:
            raise ValueError("GuardedServer serves bound sockets: serve(sockets=[…]).")
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        loop = asyncio.get_running_loop()

        def protocol(slot: Slot) -> asyncio.Protocol:
            return GuardedH11Protocol(
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
                slot=slot,
            )

        acceptors = [
            Acceptor(sock, self.gate, protocol, config.ssl, config.backlog) for sock in sockets
        ]
        for acceptor in acceptors:
            acceptor.start()
        self.servers = cast(list[asyncio.base_events.Server], acceptors)
        self.started = True


def describe(limits: EffectiveLimits) -> str:
    """One line for the operator when the open-file limit lowered the caps."""
    return (
        f"WARNING: the open-file limit ({limits.open_files}) allows only {limits.total} "
        f"connections ({limits.per_address} per address); raise it (ulimit -n) for more."
    )
