"""The home server's pool connections to its relay (``docs/cloud.md``, "Pool
connections"): plain TCP, each opened with ``cloudwire.pool_line`` and kept idle until the
relay attaches a client to it; then the attach line is read (:mod:`.attach`) and the
socket handed to the web server (``on_stream(sock, client_host, client_port)``), which
speaks TLS on it as on a local connection.

:class:`PoolClient` keeps ``size`` connections idle: one new one for each one attached,
``want`` more when the cloud asks, never more than ``cap`` open and waiting; a connection
that fails or is closed by the relay is replaced after a pause."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Callable

from domogate.cloud.attach import ATTACH_TIMEOUT_S, read_attach
from domogate.core.cloudwire import CONN_ID_BYTES, WireError, pool_line

log = logging.getLogger("domogate.cloud.link")

OnStream = Callable[[socket.socket, str, int], None]

POOL_CAP = 64  # pool connections open and waiting, at most
RETRY_PAUSE_S = 1.0  # before replacing a pool connection that failed
CONNECT_TIMEOUT_S = 10.0


class PoolClient:
    """The pool connections of one control link (its pool key dies with it)."""

    def __init__(
        self,
        relay: tuple[str, int],
        name: str,
        key: bytes,
        on_stream: OnStream,
        *,
        size: int,
        cap: int = POOL_CAP,
        attach_timeout_s: float = ATTACH_TIMEOUT_S,
        retry_pause_s: float = RETRY_PAUSE_S,
    ) -> None:
        self.relay = relay
        self.name = name
        self._key = key
        self.on_stream = on_stream
        self.size = max(1, min(size, cap))
        self.cap = cap
        self.attach_timeout_s = attach_timeout_s
        self.retry_pause_s = retry_pause_s
        self._tasks: set[asyncio.Task[None]] = set()
        self.idle = 0  # connected, pool line sent, waiting for a client
        self.attached = 0  # handed to the web server, in total
        self.closed = False

    @property
    def waiting(self) -> int:
        """Connections open or opening, not attached yet."""
        return len(self._tasks)

    def start(self) -> None:
        self.want(self.size)

    def want(self, count: int) -> None:
        """Open ``count`` more (the cloud's ``pool`` message), within the cap."""
        for _ in range(max(0, min(count, self.cap - len(self._tasks)))):
            self._open()

    async def close(self) -> None:
        self.closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _open(self, pause_s: float = 0.0) -> None:
        if self.closed or len(self._tasks) >= self.cap:
            return
        task = asyncio.get_running_loop().create_task(self._one(pause_s))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("pool connection failed: %s", task.exception())

    async def _one(self, pause_s: float) -> None:
        if pause_s:
            await asyncio.sleep(pause_s)
        loop = asyncio.get_running_loop()
        sock: socket.socket | None = None
        try:
            conn_id = secrets.token_hex(CONN_ID_BYTES)
            sock = await self._connect()
            await loop.sock_sendall(sock, pool_line(self.name, conn_id, self._key))
            self.idle += 1
            try:
                host, port = await read_attach(sock, conn_id, self._key, self.attach_timeout_s)
            finally:
                self.idle -= 1
        except (OSError, WireError) as exc:
            if sock is not None:
                sock.close()
            if not self.closed:
                log.info("pool connection to %s:%d ended: %s", *self.relay, exc)
                self._replace(self.retry_pause_s)
            return
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        self.attached += 1
        self._replace(0.0)
        try:
            self.on_stream(sock, host, port)  # the web server owns the socket from here
        except Exception:
            sock.close()
            raise

    def _replace(self, pause_s: float) -> None:
        # This task is done with its slot: it no longer counts (its done callback, which
        # would discard it, runs only after the _refill scheduled here).
        current = asyncio.current_task()
        if current is not None:
            self._tasks.discard(current)
        asyncio.get_running_loop().call_soon(self._refill, pause_s)

    def _refill(self, pause_s: float) -> None:
        if not self.closed and len(self._tasks) < self.size:
            self._open(pause_s)

    async def _connect(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        host, port = self.relay
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"cannot resolve {host}")
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await loop.sock_connect(sock, address)
        except BaseException:
            sock.close()
            raise
        return sock
