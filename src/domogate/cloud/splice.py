"""Copying bytes both ways between two sockets, as the kernel allows it cheapest.

:func:`pump` joins a client's socket and a pool connection once the attach line is
written: from then on the relay only moves bytes. Each direction has its own pipe and
moves bytes with ``os.splice`` (socket → pipe → socket, never through Python), non-blocking
(``SPLICE_F_MOVE | SPLICE_F_NONBLOCK``), driven by ``loop.add_reader``/``add_writer``.
When ``os.splice`` is missing, or the kernel refuses it for these sockets (``EINVAL``),
that direction copies with ``recv_into``/``send`` through one fixed buffer instead.

- Back-pressure: a direction stops reading its source while bytes it read are not yet
  written, so a slow reader holds back the sender through TCP's own flow control; memory
  per stream is bounded (one pipe or one buffer per direction).
- Half-close: EOF from one side is passed on (``shutdown(SHUT_WR)`` on the other) once
  every byte before it is written; the other direction goes on.
- A reset, or any other error on either side, ends both at once (the other side is
  closed with a reset too); so does ``idle_timeout_s`` without a byte either way.

Both sockets are closed when :func:`pump` returns (or is cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import struct

CHUNK = 64 * 1024  # bytes per read: the default pipe's capacity
_ROUNDS = 16  # reads per wake-up before other streams get their turn
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_FALLBACK_ERRNOS = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}


class _Direction:
    """Bytes from ``src`` to ``dst``: read only while nothing read is left to write."""

    def __init__(self, pump: _Pump, src: socket.socket, dst: socket.socket, use_splice: bool):
        self.pump = pump
        self.src = src
        self.dst = dst
        self.src_fd = src.fileno()
        self.dst_fd = dst.fileno()
        self.copied = 0
        self.pending = 0  # bytes read, not yet written (in the pipe or the buffer)
        self.eof = False
        self.done = False
        self.reading = False
        self.writing = False
        self.pipe: tuple[int, int] | None = None
        self.buffer: bytearray | None = None
        self.start = 0  # of the pending bytes in ``buffer``
        if use_splice:
            self.pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        else:
            self.buffer = bytearray(CHUNK)

    # --- the two ways of moving bytes ----------------------------------------------------

    def _fill(self) -> int:
        """Read from ``src`` (``BlockingIOError``: nothing there); 0 at EOF."""
        if self.pipe is not None:
            try:
                return os.splice(self.src_fd, self.pipe[1], CHUNK, flags=_FLAGS)
            except OSError as exc:
                if exc.errno not in _FALLBACK_ERRNOS:
                    raise
                self._to_copy()
        assert self.buffer is not None
        self.start = 0
        return self.src.recv_into(self.buffer)

    def _drain(self) -> int:
        """Write pending bytes to ``dst`` (``BlockingIOError``: its buffer is full)."""
        if self.pipe is not None:
            try:
                return os.splice(self.pipe[0], self.dst_fd, self.pending, flags=_FLAGS)
            except OSError as exc:
                if exc.errno not in _FALLBACK_ERRNOS:
                    raise
                self._to_copy()
        assert self.buffer is not None
        view = memoryview(self.buffer)[self.start : self.start + self.pending]
        sent = self.dst.send(view)
        self.start += sent
        return sent

    def _to_copy(self) -> None:
        """The kernel will not splice these sockets: copy through a buffer from now on
        (with what the pipe already holds)."""
        assert self.pipe is not None
        held = os.read(self.pipe[0], self.pending) if self.pending else b""
        self.close_pipe()
        self.buffer = bytearray(max(CHUNK, len(held)))
        self.buffer[: len(held)] = held
        self.start = 0

    def close_pipe(self) -> None:
        if self.pipe is not None:
            for fd in self.pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.pipe = None

    # --- driving -------------------------------------------------------------------------

    def step(self) -> None:
        """Move what can be moved now, then wait for the readiness that is missing."""
        if self.done:
            return
        try:
            for _ in range(_ROUNDS):
                while self.pending:
                    written = self._drain()
                    self.pending -= written
                    self.copied += written
                    self.pump.moved()
                if self.eof:
                    self._finish()
                    return
                got = self._fill()
                if got == 0:
                    self.eof = True
                    continue
                self.pending = got
            # More may be waiting: other streams get their turn first, then this goes on.
            self._watch(read=False, write=False)
            self.pump.loop.call_soon(self.step)
        except BlockingIOError:
            self._watch(read=not self.pending, write=bool(self.pending))
        except InterruptedError:
            self.pump.loop.call_soon(self.step)
        except OSError:
            self.pump.end()

    def _finish(self) -> None:
        self.done = True
        self._watch(read=False, write=False)
        self.close_pipe()
        with contextlib.suppress(OSError):
            self.dst.shutdown(socket.SHUT_WR)
        self.pump.direction_done()

    def _watch(self, *, read: bool, write: bool) -> None:
        loop = self.pump.loop
        if read != self.reading:
            if read:
                loop.add_reader(self.src_fd, self.step)
            else:
                loop.remove_reader(self.src_fd)
            self.reading = read
        if write != self.writing:
            if write:
                loop.add_writer(self.dst_fd, self.step)
            else:
                loop.remove_writer(self.dst_fd)
            self.writing = write

    def stop(self) -> None:
        self.done = True
        self._watch(read=False, write=False)
        self.close_pipe()


class _Pump:
    def __init__(
        self,
        a: socket.socket,
        b: socket.socket,
        use_splice: bool,
        idle_timeout_s: float | None,
        half_close_grace_s: float | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.a, self.b = a, b
        self.half_close_grace_s = half_close_grace_s
        self.grace: asyncio.TimerHandle | None = None
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.idle_timeout_s = idle_timeout_s
        self.last = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.directions: list[_Direction] = []
        for s in (a, b):
            s.setblocking(False)
        first = _Direction(self, a, b, use_splice)
        try:
            second = _Direction(self, b, a, use_splice)
        except OSError:
            first.stop()
            raise
        self.directions = [first, second]
        if idle_timeout_s is not None:
            self.timer = self.loop.call_later(idle_timeout_s, self._check_idle)

    def start(self) -> None:
        for d in self.directions:
            d.step()

    def moved(self) -> None:
        self.last = self.loop.time()

    def _check_idle(self) -> None:
        assert self.idle_timeout_s is not None
        left = self.last + self.idle_timeout_s - self.loop.time()
        if left > 0:
            self.timer = self.loop.call_later(left, self._check_idle)
        else:
            self.timer = None
            self.end()

    def direction_done(self) -> None:
        if all(d.done for d in self.directions):
            self.close(abort=False)
        elif self.half_close_grace_s is not None and self.grace is None:
            # One side has finished: the other gets this long to finish too, so that a peer
            # that half-closes and then stays silent cannot hold the stream for ever.
            self.grace = self.loop.call_later(self.half_close_grace_s, self.end)

    def end(self) -> None:
        """A reset or an error on either side: both end now."""
        self.close(abort=True)

    def close(self, *, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in (self.timer, self.grace):
            if timer is not None:
                timer.cancel()
        self.timer = self.grace = None
        for d in self.directions:
            d.stop()
        for s in (self.a, self.b):
            if abort:  # pass the reset on rather than a clean end
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                s.close()
        if not self.finished.done():
            self.finished.set_result(None)


async def pump(
    a: socket.socket,
    b: socket.socket,
    *,
    idle_timeout_s: float | None = None,
    half_close_grace_s: float | None = None,
    use_splice: bool = True,
) -> tuple[int, int]:
    """Copy bytes both ways between ``a`` and ``b`` until both directions ended, then close
    both; the bytes copied ``a`` → ``b`` and ``b`` → ``a``. ``idle_timeout_s``: end both
    when no byte moved either way for that long (None: never). ``half_close_grace_s``:
    once one direction ended, end both if the other has not ended within that long (None:
    wait). ``use_splice=False`` copies through a buffer (what happens by itself where
    ``os.splice`` is not available)."""
    use_splice = use_splice and hasattr(os, "splice")
    try:
        state = _Pump(a, b, use_splice, idle_timeout_s, half_close_grace_s)
    except OSError:  # no pipe to be had (out of files): nothing to serve
        for s in (a, b):
            s.close()
        raise
    try:
        state.start()
        await state.finished
    finally:
        state.close(abort=True)  # a no-op once finished; on cancellation, both end
    return state.directions[0].copied, state.directions[1].copied
