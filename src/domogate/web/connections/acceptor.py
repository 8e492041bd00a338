"""The accept loop on one listening socket: counts a connection from ``accept`` (before
any TLS work), hands it to its protocol or refuses it, pauses when files run short.

Connections that came through the cloud's relay (:meth:`Acceptor.accept_relayed`) may get
another certificate than the server's own: when :attr:`Acceptor.relayed_tls` is set, their
ClientHello is peeked first (``MSG_PEEK``, nothing consumed, within the slot's deadline)
and its server name and ALPN list are handed to it (``docs/cloud-acme.md``). Connections
accepted on the server's own port never are: they pay nothing for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from domogate.core.clienthello import MAX_PEEK, Hello, NeedMore, parse_client_hello
from domogate.core.throttle import source_key
from domogate.web.connections.gate import ConnectionGate, Slot
from domogate.web.connections.refusal import REFUSAL_TIMEOUT_S, RefusalProtocol, refusal_response

log = logging.getLogger("domogate.connections")
T = TypeVar("T")

SSL_SHUTDOWN_TIMEOUT_S = 5.0  # asyncio waits 30 s for a peer's close_notify by default
ACCEPT_PAUSE_S = 0.1  # when accept() itself fails for want of file descriptors
_ACCEPT_ERRORS_PAUSE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class TlsChoice:
    """The TLS a relayed connection gets instead of the server's own: ``context``; with
    ``handshake_only`` the connection is closed once the handshake is done (an ACME
    TLS-ALPN-01 validation: no HTTP)."""

    context: ssl.SSLContext
    handshake_only: bool = False


RelayedTls = Callable[[Hello], TlsChoice | None]
"""Chooses the TLS of a relayed connection from its ClientHello; None: the server's own."""


class _HandshakeOnly(asyncio.Protocol):
    """Closes the connection as soon as its TLS handshake is done."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


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
        self.relayed_tls: RelayedTls | None = None

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

    def accept_relayed(self, conn: socket.socket, host: str, port: int) -> None:
        """Admit a socket that came through the cloud's relay exactly like an accepted
        one (counted per the client's real address, same TLS, same deadlines), marked
        with its origin: its requests see ``host``/``port`` as the client and the path
        ``cloud``. Called by the cloud link once the attach line's MAC is checked."""
        if not self.serving:
            conn.close()
            return
        self._admit(conn, (host, port), relayed=True)

    def _accepted(self, conn: socket.socket, addr: Any) -> None:
        self._admit(conn, addr)

    def _admit(self, conn: socket.socket, addr: Any, *, relayed: bool = False) -> None:
        conn.setblocking(False)
        host = str(addr[0]) if isinstance(addr, tuple) and addr else "local"
        slot = self.gate.admit(source_key(host), self.loop.time())
        if slot is None:
            self._refuse(conn)
            return
        if relayed:
            slot.relayed_from = (host, int(addr[1]))
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        slot.sock = conn
        slot.arm()  # the TLS handshake and the first head share the deadline
        task = self.loop.create_task(self._serve(slot, conn, addr))
        slot.task = task
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._connected, slot))

    async def _serve(self, slot: Slot, conn: socket.socket, addr: Any) -> None:
        """What an admitted connection gets: TLS and HTTP (the relay sorts it first; a
        relayed one may get another certificate, see the module's docstring)."""
        choose = self.relayed_tls
        if slot.relayed_from is not None and choose is not None and self.ssl is not None:
            hello = await self._peek_hello(conn)
            choice = choose(hello) if hello is not None else None
            if choice is not None and choice.handshake_only:
                await self._handshake_only(slot, conn, choice.context)
                return
            if choice is not None:
                await self._connect(slot, conn, choice.context)
                return
        await self._connect(slot, conn)

    async def _peek_hello(self, conn: socket.socket) -> Hello | None:
        """The ClientHello waiting on ``conn``, read without consuming it; None when the
        bytes are no ClientHello or the peer closed first (the handshake then fails as
        usual)."""
        verdict = await self._peek(conn, parse_client_hello)
        return verdict if isinstance(verdict, Hello) else None

    async def _peek(self, conn: socket.socket, sort: Callable[[bytes], T | NeedMore]) -> T | None:
        """Peek at ``conn`` until ``sort`` of the bytes waiting says something other than
        :class:`NeedMore` (nothing is consumed); None when the peer closed first or the
        socket failed. ``SO_RCVLOWAT`` wakes us only once more bytes than already seen
        arrived (or at EOF). The slot's deadline bounds the wait."""
        seen = 0
        try:
            while True:
                await self._readable(conn)
                try:
                    data = conn.recv(MAX_PEEK, socket.MSG_PEEK)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return None
                if len(data) <= seen:  # EOF (nothing new although readable)
                    return None
                seen = len(data)
                verdict = sort(data)
                if not isinstance(verdict, NeedMore):
                    return verdict
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, seen + 1)
        finally:
            if seen:
                with contextlib.suppress(OSError):
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)

    async def _readable(self, conn: socket.socket) -> None:
        ready: asyncio.Future[None] = self.loop.create_future()
        fd = conn.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self.loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            self.loop.remove_reader(fd)

    async def _handshake_only(
        self, slot: Slot, conn: socket.socket, context: ssl.SSLContext
    ) -> None:
        """A TLS handshake with ``context``, then closed: no HTTP is served on it."""

        def protocol() -> asyncio.Protocol:
            slot.sock = None
            return _HandshakeOnly()

        try:
            await self.loop.connect_accepted_socket(
                protocol,
                conn,
                ssl=context,
                ssl_handshake_timeout=2 * self.gate.limits.head_timeout_s + 1,
                ssl_shutdown_timeout=1.0,
            )
        finally:
            slot.release()

    async def _connect(
        self, slot: Slot, conn: socket.socket, context: ssl.SSLContext | None = None
    ) -> None:
        def protocol() -> asyncio.Protocol:
            slot.sock = None  # asyncio's transport owns the socket from here
            return self.protocol_factory(slot)

        tls = self.ssl is not None
        await self.loop.connect_accepted_socket(
            protocol,
            conn,
            ssl=context or self.ssl,
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
