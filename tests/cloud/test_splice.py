"""Copying both ways between two real TCP connections on 127.0.0.1: bulk with checksums,
half-close, reset, back-pressure from a slow reader, idle timeout, and the plain-copy
fallback."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import socket
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from domogate.cloud.splice import pump

MODES = pytest.mark.parametrize("use_splice", [True, False], ids=["splice", "copy"])


def tcp_pair(made: list[socket.socket], buf: int | None = None) -> tuple[socket.socket, ...]:
    """(the outside end, the relay's end) of one loopback TCP connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    outside = socket.socket()
    if buf is not None:
        for s in (listener, outside):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buf)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buf)
    outside.connect(listener.getsockname())
    inside, _ = listener.accept()
    listener.close()
    for s in (outside, inside):
        s.setblocking(False)
    made += [outside, inside]
    return outside, inside


@pytest.fixture
def made() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for s in sockets:
        s.close()


@pytest.fixture
def streams(made: list[socket.socket]) -> tuple[socket.socket, ...]:
    """(client, relay's client end, relay's pool end, home)."""
    client, a = tcp_pair(made)
    home, b = tcp_pair(made)
    return client, a, b, home


async def send_all(sock: socket.socket, data: bytes, *, eof: bool = True) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    for i in range(0, len(data), 1 << 20):
        await loop.sock_sendall(sock, view[i : i + (1 << 20)])
    if eof:
        sock.shutdown(socket.SHUT_WR)


async def read_to_eof(sock: socket.socket) -> tuple[int, str]:
    loop = asyncio.get_running_loop()
    digest = hashlib.sha256()
    total = 0
    while chunk := await loop.sock_recv(sock, 1 << 16):
        digest.update(chunk)
        total += len(chunk)
    return total, digest.hexdigest()


def closed(*sockets: socket.socket) -> bool:
    return all(s.fileno() == -1 for s in sockets)


@MODES
async def test_megabytes_both_ways_arrive_intact(
    streams: tuple[socket.socket, ...], use_splice: bool
) -> None:
    client, a, b, home = streams
    up, down = os.urandom(6 << 20), os.urandom(5 << 20)
    pumping = asyncio.create_task(pump(a, b, use_splice=use_splice))
    results = await asyncio.wait_for(
        asyncio.gather(
            send_all(client, up), send_all(home, down), read_to_eof(home), read_to_eof(client)
        ),
        30,
    )
    assert results[2] == (len(up), hashlib.sha256(up).hexdigest())
    assert results[3] == (len(down), hashlib.sha256(down).hexdigest())
    assert await asyncio.wait_for(pumping, 5) == (len(up), len(down))
    assert closed(a, b)


async def test_the_splice_path_really_splices(
    streams: tuple[socket.socket, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = os.splice

    def spy(*args: Any, **kwargs: Any) -> int:
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "splice", spy)
    client, a, b, home = streams
    data = os.urandom(1 << 20)
    pumping = asyncio.create_task(pump(a, b))
    await send_all(client, data)
    home.shutdown(socket.SHUT_WR)
    assert (await asyncio.wait_for(read_to_eof(home), 10))[0] == len(data)
    assert await asyncio.wait_for(pumping, 5) == (len(data), 0)
    assert len(calls) >= 2


@pytest.mark.parametrize("how", ["missing", "einval"])
async def test_without_splice_it_copies(
    streams: tuple[socket.socket, ...], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "missing":
        monkeypatch.delattr(os, "splice")
    else:

        def refuse(*args: Any, **kwargs: Any) -> int:  # a kernel that cannot splice these
            raise OSError(errno.EINVAL, "Invalid argument")

        monkeypatch.setattr(os, "splice", refuse)
    client, a, b, home = streams
    up, down = os.urandom(300_000), os.urandom(200_000)
    pumping = asyncio.create_task(pump(a, b))
    results = await asyncio.wait_for(
        asyncio.gather(
            send_all(client, up), send_all(home, down), read_to_eof(home), read_to_eof(client)
        ),
        10,
    )
    assert results[2][1] == hashlib.sha256(up).hexdigest()
    assert results[3][1] == hashlib.sha256(down).hexdigest()
    assert await asyncio.wait_for(pumping, 5) == (len(up), len(down))


@MODES
async def test_a_half_close_is_passed_on_and_the_other_way_goes_on(
    streams: tuple[socket.socket, ...], use_splice: bool
) -> None:
    loop = asyncio.get_running_loop()
    client, a, b, home = streams
    pumping = asyncio.create_task(pump(a, b, use_splice=use_splice))
    await send_all(client, b"request")  # then EOF
    assert await asyncio.wait_for(read_to_eof(home), 5) == (
        7,
        hashlib.sha256(b"request").hexdigest(),
    )
    await loop.sock_sendall(home, b"answer after the client's EOF")
    assert await asyncio.wait_for(loop.sock_recv(client, 100), 5) == (
        b"answer after the client's EOF"
    )
    assert not pumping.done()
    home.shutdown(socket.SHUT_WR)
    assert await asyncio.wait_for(loop.sock_recv(client, 100), 5) == b""
    assert await asyncio.wait_for(pumping, 5) == (7, 29)
    assert closed(a, b)


@MODES
async def test_a_reset_on_one_side_ends_both(
    streams: tuple[socket.socket, ...], use_splice: bool
) -> None:
    loop = asyncio.get_running_loop()
    client, a, b, home = streams
    pumping = asyncio.create_task(pump(a, b, use_splice=use_splice))
    await loop.sock_sendall(client, b"hello")
    assert await asyncio.wait_for(loop.sock_recv(home, 100), 5) == b"hello"
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset
    await asyncio.wait_for(pumping, 5)
    assert closed(a, b)
    with pytest.raises(ConnectionResetError):  # passed on as a reset, not a clean end
        while await asyncio.wait_for(loop.sock_recv(home, 100), 5):
            pass


@MODES
async def test_a_slow_reader_holds_the_sender_back(
    made: list[socket.socket], use_splice: bool
) -> None:
    loop = asyncio.get_running_loop()
    small = 64 * 1024
    client, a = tcp_pair(made, small)
    home, b = tcp_pair(made, small)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, small)
    payload = os.urandom(32 << 20)
    sent = [0]

    async def sender() -> None:
        for i in range(0, len(payload), 1 << 16):
            await loop.sock_sendall(client, payload[i : i + (1 << 16)])
            sent[0] = i + (1 << 16)
        client.shutdown(socket.SHUT_WR)

    pumping = asyncio.create_task(pump(a, b, use_splice=use_splice))
    sending = asyncio.create_task(sender())
    await stalled(lambda: sent[0])
    # Nothing reads at home: all that moved sits in socket buffers and one pipe/buffer.
    assert 0 < sent[0] < 4 << 20, sent[0]
    got = await asyncio.wait_for(read_to_eof(home), 30)
    assert got == (len(payload), hashlib.sha256(payload).hexdigest())
    await asyncio.wait_for(sending, 5)
    home.shutdown(socket.SHUT_WR)
    assert await asyncio.wait_for(pumping, 5) == (len(payload), 0)


async def stalled(progress: Callable[[], int], quiet_s: float = 0.3) -> None:
    """Return once ``progress()`` stopped changing for ``quiet_s`` (at most 10 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    last, since = progress(), loop.time()
    while loop.time() - since < quiet_s:
        assert loop.time() < deadline, "never stalled"
        await asyncio.sleep(0.02)
        if progress() != last:
            last, since = progress(), loop.time()


async def test_an_idle_timeout_ends_a_silent_stream(streams: tuple[socket.socket, ...]) -> None:
    loop = asyncio.get_running_loop()
    client, a, b, home = streams
    pumping = asyncio.create_task(pump(a, b, idle_timeout_s=0.3))
    for _ in range(3):  # bytes keep it alive past its timeout
        await loop.sock_sendall(client, b"ping")
        assert await asyncio.wait_for(loop.sock_recv(home, 10), 5) == b"ping"
        await asyncio.sleep(0.15)
    assert not pumping.done()
    assert await asyncio.wait_for(pumping, 5) == (12, 0)
    assert closed(a, b)


async def test_no_idle_timeout_by_default(streams: tuple[socket.socket, ...]) -> None:
    _client, a, b, _home = streams
    pumping = asyncio.create_task(pump(a, b))
    done, _ = await asyncio.wait([pumping], timeout=0.5)
    assert not done
    pumping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pumping
    assert closed(a, b)  # cancelled: both closed


async def test_out_of_pipes_closes_both(
    streams: tuple[socket.socket, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []
    real = os.pipe2

    def second_fails(flags: int) -> tuple[int, int]:
        if opened:
            raise OSError(errno.EMFILE, "Too many open files")
        r, w = real(flags)
        opened.extend([r, w])
        return r, w

    monkeypatch.setattr(os, "pipe2", second_fails)
    _client, a, b, _home = streams
    with pytest.raises(OSError):
        await pump(a, b)
    assert closed(a, b)
    for fd in opened:  # the first direction's pipe was given back
        with pytest.raises(OSError):
            os.fstat(fd)


async def test_a_half_closed_stream_whose_other_side_stays_silent_ends_after_the_grace(
    streams: tuple[socket.socket, ...],
) -> None:
    """The attack: a ClientHello, then silence; the home server gives up on the handshake
    and closes its side. Without the grace the relay would wait on the silent client for
    ever, and such streams would fill the installation's cap."""
    loop = asyncio.get_running_loop()
    client, a, b, home = streams
    pumping = asyncio.create_task(pump(a, b, half_close_grace_s=0.3))
    home.shutdown(socket.SHUT_WR)  # the home side is done; the client never is
    assert await asyncio.wait_for(loop.sock_recv(client, 10), 5) == b""
    started = loop.time()
    await asyncio.wait_for(pumping, 5)
    assert 0.25 < loop.time() - started < 2
    assert closed(a, b)


async def test_a_half_close_within_the_grace_is_a_clean_end(
    streams: tuple[socket.socket, ...],
) -> None:
    loop = asyncio.get_running_loop()
    client, a, b, home = streams
    pumping = asyncio.create_task(pump(a, b, half_close_grace_s=5))
    await send_all(client, b"request")  # then EOF
    assert await asyncio.wait_for(read_to_eof(home), 5) == (
        7,
        hashlib.sha256(b"request").hexdigest(),
    )
    await loop.sock_sendall(home, b"answer")
    home.shutdown(socket.SHUT_WR)
    assert await asyncio.wait_for(pumping, 2) == (7, 6)
