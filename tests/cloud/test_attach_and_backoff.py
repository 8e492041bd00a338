"""Reading the attach line of a pool connection (over real socket pairs), and the link's
reconnection backoff."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Iterator

import pytest

from domogate.cloud.attach import read_attach
from domogate.core.backoff import backoff_ceiling, backoff_delay
from domogate.core.cloudwire import MAX_LINE, WireError, attach_line

KEY = b"p" * 32
CONN = "ab" * 16


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A TCP pair on loopback (what a pool connection is), non-blocking on our side."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        relay = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    ours.setblocking(False)
    yield ours, relay
    ours.close()
    relay.close()


async def test_reads_exactly_the_line_and_leaves_the_clients_bytes(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    relay.sendall(attach_line(CONN, "203.0.113.7", 40123, KEY) + b"\x16\x03\x01CLIENTHELLO")
    assert await read_attach(ours, CONN, KEY) == ("203.0.113.7", 40123)
    ours.setblocking(True)
    assert ours.recv(100) == b"\x16\x03\x01CLIENTHELLO"


async def test_a_line_in_pieces_is_waited_for(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    line = attach_line(CONN, "::1", 5, KEY)
    task = asyncio.create_task(read_attach(ours, CONN, KEY))
    for i in range(0, len(line), 7):
        relay.sendall(line[i : i + 7])
        await asyncio.sleep(0.01)  # let the reader see each piece (the test's pacing)
    relay.sendall(b"rest")
    assert await asyncio.wait_for(task, 5) == ("::1", 5)
    ours.setblocking(True)
    assert ours.recv(10) == b"rest"


async def test_wrong_mac_is_refused(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    relay.sendall(attach_line(CONN, "203.0.113.7", 1, b"x" * 32))
    with pytest.raises(WireError, match="MAC"):
        await read_attach(ours, CONN, KEY)


async def test_another_conn_id_is_refused(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    relay.sendall(attach_line("cd" * 16, "203.0.113.7", 1, KEY))
    with pytest.raises(WireError):
        await read_attach(ours, CONN, KEY)


async def test_anything_else_first_is_refused_at_once(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    relay.sendall(b"\x16\x03\x01 a ClientHello without an attach line")
    with pytest.raises(WireError, match="not an attach line"):
        await asyncio.wait_for(read_attach(ours, CONN, KEY), 5)


async def test_a_line_without_end_is_bounded(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    relay.sendall(b"DGATTACH1 " + b"1" * (MAX_LINE + 10))
    with pytest.raises(WireError, match="too long"):
        await asyncio.wait_for(read_attach(ours, CONN, KEY), 5)


async def test_a_line_that_stalls_meets_its_deadline(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    relay.sendall(b"DGATTACH1 203.0")
    with pytest.raises(WireError, match="in time"):
        await read_attach(ours, CONN, KEY, timeout_s=0.2)


async def test_closed_before_a_line(pair) -> None:  # type: ignore[no-untyped-def]
    ours, relay = pair
    relay.close()
    with pytest.raises(WireError, match="closed"):
        await asyncio.wait_for(read_attach(ours, CONN, KEY), 5)


async def test_over_a_unix_socketpair_too() -> None:
    ours, relay = socket.socketpair()
    with ours, relay:
        ours.setblocking(False)
        relay.sendall(attach_line(CONN, "127.0.0.1", 9, KEY) + b"X")
        assert await read_attach(ours, CONN, KEY) == ("127.0.0.1", 9)


def test_backoff_doubles_from_half_a_second_to_thirty() -> None:
    assert [backoff_ceiling(a) for a in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff_ceiling(10_000) == 30


def test_backoff_has_full_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(3, rng.random) for _ in range(500)]
    assert all(0 <= d < 4 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 3.5  # spread over the whole range
    assert backoff_delay(5, lambda: 0.0) == 0.0
    assert backoff_delay(5, lambda: 0.999) == pytest.approx(16 * 0.999)
