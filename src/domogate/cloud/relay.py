"""The relay's accept loop: one port, three kinds of connection (``docs/cloud.md``, "One
port, three kinds of connection").

:class:`RelayAcceptor` is the web server's :class:`~domogate.web.connections.Acceptor`
(built for ``GuardedServer(acceptor_factory=…)``) that looks at the first bytes of every
accepted connection before TLS, with ``MSG_PEEK`` (nothing consumed), within the gate's
head deadline:

- ``DGPOOL1 …\\n``: a home server's pool connection; exactly its line is read and offered
  to the :class:`~domogate.cloud.pools.PoolRegistry` (counted there, per link, not by the
  web server's per-address cap);
- a TLS ClientHello for ``<label>.<zone>``: a client of installation ``<label>``; one of
  its idle pool connections gets the attach line (the client's address, MACed with the
  pool key) and the two are joined by :func:`~domogate.cloud.splice.pump`; nothing
  idle within the registry's attach timeout, an unknown label, or over the caps on routed
  streams: closed;
- any other ClientHello (the zone itself, another name, no name): the base class's path,
  TLS with the cloud's certificate and the cloud's HTTP API;
- anything else: closed.

Every connection is counted by the gate from ``accept`` like the web server's; a pool
connection or a routed stream gives its slot back once sorted (routed streams have their
own caps, :class:`RouteLimits`). The relay never reads past the ClientHello, and its logs
hold addresses and names, never payload or a pool key.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domogate.cloud.pools import PoolRegistry
from domogate.cloud.splice import pump
from domogate.core import cloudwire
from domogate.core.clienthello import (
    NEED_MORE,
    Hello,
    NeedMore,
    NotTls,
    parse_client_hello,
)
from domogate.core.throttle import source_key
from domogate.web.connections.acceptor import Acceptor
from domogate.web.connections.gate import ConnectionGate, Slot

log = logging.getLogger("domogate.cloud.relay")


@dataclass(frozen=True)
class RouteLimits:
    """Caps on streams routed to installations (each holds two sockets and two pipes),
    counted apart from the web server's connection caps."""

    per_installation: int = 256
    total: int = 4096
    # One address may hold this many of an installation's streams: a stranger's silent
    # connections cannot fill the installation's cap on their own.
    per_source: int = 32
    # Closed after this long without a byte either way (None: never). The live channel
    # pings every 20 s, so a live client is never idle this long.
    idle_timeout_s: float | None = 300.0
    # Once one side has finished (the home server closed a handshake that never came,
    # say), the other side has this long to finish too.
    half_close_grace_s: float | None = 30.0


@dataclass(frozen=True)
class _Pool:
    line_length: int


def sort_first_bytes(data: bytes) -> _Pool | Hello | NeedMore | None:
    """What the connection's first bytes are: a pool line (:class:`_Pool`), a complete
    ClientHello (:class:`Hello`), :class:`NeedMore` (wait for more bytes), or None (close
    it)."""
    magic = cloudwire.POOL_MAGIC
    if data[: len(magic)] == magic[: len(data)]:
        end = data.find(b"\n", 0, cloudwire.MAX_LINE)
        if end >= 0 and len(data) >= len(magic):
            return _Pool(end + 1)
        return NEED_MORE if len(data) < cloudwire.MAX_LINE else None
    verdict = parse_client_hello(data)
    return None if isinstance(verdict, NotTls) else verdict


class RelayAcceptor(Acceptor):
    """The accept loop of the cloud's port (see the module's docstring). Build it with
    ``functools.partial(RelayAcceptor, registry=…, zone=…)`` as ``acceptor_factory``."""

    def __init__(
        self,
        sock: socket.socket,
        gate: ConnectionGate,
        protocol_factory: Callable[[Slot], asyncio.Protocol],
        ssl_context: ssl.SSLContext | None,
        backlog: int = 128,
        *,
        registry: PoolRegistry,
        zone: str,
        routes: RouteLimits | None = None,
    ) -> None:
        super().__init__(sock, gate, protocol_factory, ssl_context, backlog)
        self.registry = registry
        self.zone = cloudwire.check_zone(zone)
        self.routes = routes or RouteLimits()
        self.routed: dict[str, int] = {}  # streams under way (or waiting) per installation
        self.routed_from: dict[tuple[str, str], int] = {}  # per installation and source
        self.routed_total = 0

    async def _serve(self, slot: Slot, conn: socket.socket, addr: Any) -> None:
        """Sorted first (within the slot's deadline, which the TLS handshake and the first
        head share afterwards on the API's path)."""
        host = str(addr[0]) if isinstance(addr, tuple) and addr else "local"
        port = int(addr[1]) if isinstance(addr, tuple) and len(addr) > 1 else 0
        await self._sort(slot, conn, host, port)

    async def _sort(self, slot: Slot, conn: socket.socket, host: str, port: int) -> None:
        verdict = await self._first_bytes(conn)
        if isinstance(verdict, _Pool):
            line = conn.recv(verdict.line_length)
            self._unslot(slot)
            if len(line) != verdict.line_length:
                conn.close()
                return
            await self.registry.offer(conn, line)
            return
        if isinstance(verdict, Hello):
            label = cloudwire.name_in_zone(verdict.server_name, self.zone)
            if label is not None:
                await self._route(slot, conn, label, host, port)
                return
            await self._connect(slot, conn)  # the cloud's own API
            return
        log.debug("closing a connection from %s: neither TLS nor a pool line", host)
        self._unslot(slot)
        conn.close()

    async def _first_bytes(self, conn: socket.socket) -> _Pool | Hello | None:
        """Peek until the first bytes say what the connection is (nothing consumed)."""
        verdict = await self._peek(conn, sort_first_bytes)
        return verdict if isinstance(verdict, _Pool | Hello) else None

    def _unslot(self, slot: Slot) -> None:
        """The connection is no longer the web server's: its socket is ours, its slot is
        given back (and its deadline stopped)."""
        slot.sock = None
        slot.release()

    async def _route(
        self, slot: Slot, conn: socket.socket, label: str, host: str, port: int
    ) -> None:
        routes = self.routes
        count = self.routed.get(label, 0)
        source = (label, source_key(host))
        from_source = self.routed_from.get(source, 0)
        if (
            count >= routes.per_installation
            or from_source >= routes.per_source
            or self.routed_total >= routes.total
        ):
            log.warning("client %s for %s refused: too many routed streams", host, label)
            self._unslot(slot)
            conn.close()
            return
        self.routed[label] = count + 1
        self.routed_from[source] = from_source + 1
        self.routed_total += 1
        try:  # cancelled while waiting: the slot's socket, closed by _connected
            taken = await self.registry.take(label)
            if taken is None:
                log.info("client %s for %s closed: no pool connection", host, label)
                self._unslot(slot)
                conn.close()
                return
            pool, conn_id, key = taken
            self._unslot(slot)
            try:
                await self.loop.sock_sendall(pool, cloudwire.attach_line(conn_id, host, port, key))
            except BaseException as exc:
                pool.close()
                conn.close()
                if isinstance(exc, OSError):
                    log.info("client %s for %s closed: the pool connection failed", host, label)
                    return
                raise
            log.info("client %s routed to %s", host, label)
            up, down = await pump(
                conn,
                pool,
                idle_timeout_s=routes.idle_timeout_s,
                half_close_grace_s=routes.half_close_grace_s,
            )
            log.debug("stream of %s to %s ended: %d bytes up, %d down", host, label, up, down)
        finally:
            _decrement(self.routed, label)
            _decrement(self.routed_from, source)
            self.routed_total -= 1


def _decrement(counts: dict[Any, int], key: Any) -> None:
    left = counts.get(key, 1) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
