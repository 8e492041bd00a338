"""The relay's registry of linked installations and their idle pool connections.

A home server whose control link is up (``/api/link``, built by the cloud's control
plane) is registered here with the pool key the cloud gave it; it then opens plain TCP
*pool connections* to the relay's port, each starting with a ``DGPOOL1`` line
(:mod:`domogate.core.cloudwire`). The relay checks the line against the registered key and
keeps the socket idle until a client of that installation arrives (:meth:`PoolRegistry.take`).

An idle pool connection must stay silent: the server writes nothing before the relay's
attach line, so EOF or any byte from it while idle drops it. A ``conn_id`` is accepted
once per control link (the registry remembers the last :data:`SEEN_CONN_IDS` of them), so
a pool line seen on the wire cannot be replayed. When the control link ends, its pool key
dies with it: :meth:`PoolRegistry.unregister` closes that link's idle pool connections.

Plain non-blocking sockets, watched with ``loop.add_reader``; nothing here logs a pool key
or a MAC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable

from domogate.core import cloudwire

log = logging.getLogger("domogate.cloud.pools")

SEEN_CONN_IDS = 8192  # per control link; the oldest ones are forgotten beyond that

Taken = tuple[socket.socket, str, bytes]  # the pool socket, its conn_id, the pool key


class LinkEntry:
    """One control link that is up: the installation's name, its pool key, how to ask its
    server for more pool connections, and its idle pool connections."""

    __slots__ = ("closed", "idle", "name", "pool_key", "seen", "seen_order", "waiters", "want")

    def __init__(self, name: str, pool_key: bytes, want: Callable[[int], None]) -> None:
        self.name = name
        self.pool_key = pool_key
        self.want = want
        self.idle: dict[socket.socket, str] = {}  # socket → conn_id, oldest first
        self.seen: set[str] = set()
        self.seen_order: deque[str] = deque()
        self.waiters: deque[asyncio.Future[tuple[socket.socket, str] | None]] = deque()
        self.closed = False

    def __repr__(self) -> str:  # never the key
        return f"LinkEntry({self.name!r}, idle={len(self.idle)}, closed={self.closed})"

    def remember(self, conn_id: str) -> bool:
        """Note ``conn_id`` as used on this link; False if it was already."""
        if conn_id in self.seen:
            return False
        self.seen.add(conn_id)
        self.seen_order.append(conn_id)
        if len(self.seen_order) > SEEN_CONN_IDS:
            self.seen.discard(self.seen_order.popleft())
        return True


class PoolRegistry:
    """Linked installations by name, and their idle pool connections."""

    def __init__(self, *, max_idle_per_link: int = 64, attach_timeout_s: float = 5.0) -> None:
        self.max_idle_per_link = max(1, max_idle_per_link)
        self.attach_timeout_s = attach_timeout_s
        self._links: dict[str, LinkEntry] = {}
        self._idle_total = 0

    # --- control links -------------------------------------------------------------------

    def register(self, name: str, pool_key: bytes, want: Callable[[int], None]) -> LinkEntry:
        """A control link is up for ``name``: from now on pool lines are checked with
        ``pool_key``. An older entry of that name is closed (its pool connections were
        opened with the old key)."""
        name = cloudwire.check_name(name)
        old = self._links.pop(name, None)
        if old is not None:
            self._close_entry(old)
        entry = LinkEntry(name, pool_key, want)
        self._links[name] = entry
        log.info("installation %s linked", name)
        return entry

    def unregister(self, entry: LinkEntry) -> None:
        """The control link of ``entry`` ended: its idle pool connections are closed and
        clients waiting for one get none. A no-op when a newer link replaced it."""
        if self._links.get(entry.name) is entry:
            del self._links[entry.name]
            log.info("installation %s unlinked", entry.name)
        self._close_entry(entry)

    def is_linked(self, name: str) -> bool:
        return name in self._links

    def linked_names(self) -> frozenset[str]:
        return frozenset(self._links)

    @property
    def idle_count(self) -> int:
        """Idle pool sockets, all links together."""
        return self._idle_total

    def idle_of(self, name: str) -> int:
        entry = self._links.get(name)
        return 0 if entry is None else len(entry.idle)

    def close(self) -> None:
        """At shutdown: every link's idle pool connections are closed."""
        for entry in list(self._links.values()):
            self.unregister(entry)

    # --- pool connections ----------------------------------------------------------------

    async def offer(self, sock: socket.socket, first_line: bytes) -> bool:
        """A connection that began with ``DGPOOL1 `` (``first_line``, newline included,
        already read from ``sock``): kept idle for its installation, or handed at once to a
        client waiting for one. False, and the socket closed, when refused: malformed, an
        unknown name, a wrong MAC, a ``conn_id`` already used on this link, or the link
        already holds ``max_idle_per_link`` idle connections."""
        entry, conn_id = self._check(first_line)
        if entry is None or conn_id is None:
            _close(sock)
            return False
        sock.setblocking(False)
        while entry.waiters:
            waiter = entry.waiters.popleft()
            if not waiter.done():
                waiter.set_result((sock, conn_id))
                return True
        if len(entry.idle) >= self.max_idle_per_link:
            log.info("pool connection of %s refused: %d already idle", entry.name, len(entry.idle))
            _close(sock)
            return False
        self._keep(entry, sock, conn_id)
        return True

    def _check(self, line: bytes) -> tuple[LinkEntry | None, str | None]:
        try:
            hello = cloudwire.parse_pool_line(line)
        except cloudwire.WireError:
            log.info("malformed pool line refused")
            return None, None
        entry = self._links.get(hello.name)
        if entry is None:
            log.info("pool connection for %s refused: not linked", hello.name)
            return None, None
        if not cloudwire.pool_mac_ok(hello, entry.pool_key):
            log.warning("pool connection for %s refused: wrong MAC", hello.name)
            return None, None
        if not entry.remember(hello.conn_id):
            log.warning("pool connection for %s refused: conn_id used before", hello.name)
            return None, None
        return entry, hello.conn_id

    def _keep(self, entry: LinkEntry, sock: socket.socket, conn_id: str) -> None:
        loop = asyncio.get_running_loop()
        entry.idle[sock] = conn_id
        self._idle_total += 1
        loop.add_reader(sock.fileno(), self._idle_readable, entry, sock)

    def _idle_readable(self, entry: LinkEntry, sock: socket.socket) -> None:
        """EOF, a reset or bytes on an idle pool connection: it is dropped."""
        if self._unkeep(entry, sock):
            log.debug("idle pool connection of %s dropped", entry.name)
            _close(sock)

    def _unkeep(self, entry: LinkEntry, sock: socket.socket) -> bool:
        if entry.idle.pop(sock, None) is None:
            return False
        self._idle_total -= 1
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        return True

    async def take(self, name: str) -> Taken | None:
        """An idle pool socket of ``name`` (no longer watched: the caller owns it), its
        ``conn_id`` and the link's pool key. When none is idle, asks the server for one
        (``want``) and waits up to ``attach_timeout_s``. None when ``name`` is not linked,
        its link ended meanwhile, or no pool connection came in time."""
        entry = self._links.get(name)
        if entry is None:
            return None
        while entry.idle:
            sock = next(iter(entry.idle))
            conn_id = entry.idle[sock]
            self._unkeep(entry, sock)
            if _alive(sock):
                return sock, conn_id, entry.pool_key
            _close(sock)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[socket.socket, str] | None] = loop.create_future()
        entry.waiters.append(waiter)
        try:
            entry.want(1)
        except Exception:  # a dead control link: its entry goes soon
            log.exception("asking %s for a pool connection failed", name)
        try:
            async with asyncio.timeout(self.attach_timeout_s):
                got = await waiter
        except TimeoutError:
            self._abandon(entry, waiter)
            log.info("no pool connection of %s within %.1f s", name, self.attach_timeout_s)
            return None
        except asyncio.CancelledError:
            self._abandon(entry, waiter)
            raise
        if got is None:
            return None
        return got[0], got[1], entry.pool_key

    def _abandon(
        self, entry: LinkEntry, waiter: asyncio.Future[tuple[socket.socket, str] | None]
    ) -> None:
        """A wait that ended without its socket: one handed over just then is not lost."""
        with contextlib.suppress(ValueError):
            entry.waiters.remove(waiter)
        if waiter.done() and not waiter.cancelled():
            late = waiter.result()
            if late is not None:
                self._give_back(entry, *late)
        else:
            waiter.cancel()

    def _give_back(self, entry: LinkEntry, sock: socket.socket, conn_id: str) -> None:
        if entry.closed or len(entry.idle) >= self.max_idle_per_link:
            _close(sock)
        else:
            self._keep(entry, sock, conn_id)

    def _close_entry(self, entry: LinkEntry) -> None:
        if entry.closed:
            return
        entry.closed = True
        for sock in list(entry.idle):
            self._unkeep(entry, sock)
            _close(sock)
        while entry.waiters:
            waiter = entry.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


def _alive(sock: socket.socket) -> bool:
    """Silent and open: an idle pool connection that can still carry a client."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False
    return False  # EOF (b"") or an unexpected byte: dead either way


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
