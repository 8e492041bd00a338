"""Reading a pool connection's attach line (``docs/cloud.md``, "Pool connections").

When a client arrives, the relay writes ``DGATTACH1 <host> <port> <mac>\\n`` and then the
client's own bytes (its TLS ClientHello). The server must consume exactly the line and
nothing after it, since what follows belongs to the TLS layer: it peeks (``MSG_PEEK``)
until the newline, never more than ``cloudwire.MAX_LINE`` bytes and within a deadline
from the line's first byte, then ``recv``s exactly that length and checks the MAC
(:func:`domogate.core.cloudwire.parse_attach_line`). Any failure is a
:class:`~domogate.core.cloudwire.WireError`: the connection is closed."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from domogate.core.cloudwire import ATTACH_MAGIC, MAX_LINE, WireError, parse_attach_line

ATTACH_TIMEOUT_S = 5.0
"""From the attach line's first byte to its newline."""


async def readable(sock: socket.socket) -> None:
    """Wait until ``sock`` (non-blocking) has something to read, or its peer closed."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def on_readable() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, on_readable)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes already peeked: in the socket's queue, so ``recv`` does not block."""
    chunks: list[bytes] = []
    while n > 0:
        chunk = sock.recv(n)
        if not chunk:
            raise WireError("closed in the middle of the attach line")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _set_low_water(sock: socket.socket, nbytes: int) -> None:
    # Readable only once more than what was peeked has arrived (no busy loop).
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, nbytes)


async def read_attach(
    sock: socket.socket, conn_id: str, key: bytes, timeout_s: float = ATTACH_TIMEOUT_S
) -> tuple[str, int]:
    """Wait (without limit) for the relay's attach line on an idle pool connection, read
    exactly it, and return the client's ``(host, port)``; :class:`WireError` otherwise.
    The socket is left positioned at the client's first byte."""
    await readable(sock)
    try:
        async with asyncio.timeout(timeout_s):
            line = await _peek_line(sock)
    except TimeoutError as exc:
        raise WireError("attach line not complete in time") from exc
    return parse_attach_line(line, conn_id, key)


async def _peek_line(sock: socket.socket) -> bytes:
    seen = 0
    try:
        while True:
            try:
                peek = sock.recv(MAX_LINE, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                peek = None
            except OSError as exc:
                raise WireError(f"pool connection failed: {exc.strerror or exc}") from exc
            if peek is not None:
                if not peek:
                    raise WireError("closed before an attach line")
                head = peek[: len(ATTACH_MAGIC)]
                if not ATTACH_MAGIC.startswith(head):
                    raise WireError("not an attach line")
                newline = peek.find(b"\n")
                if newline >= 0:
                    return _recv_exactly(sock, newline + 1)
                if len(peek) >= MAX_LINE:
                    raise WireError("attach line too long")
                if len(peek) == seen:  # a socket that ignores the low-water mark
                    await asyncio.sleep(0.005)
                seen = len(peek)
                _set_low_water(sock, len(peek) + 1)
            await readable(sock)
    finally:
        _set_low_water(sock, 1)
