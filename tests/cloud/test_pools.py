"""The relay's pool registry, over real socket pairs: which pool lines it keeps, how idle
connections die, and how clients get one."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator

import pytest

from domogate.cloud import pools
from domogate.cloud.pools import LinkEntry, PoolRegistry
from domogate.core import cloudwire
from tests.support.until import until

KEY = bytes(range(32))
NAME = "home1"


class Wants:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, n: int) -> None:
        self.calls.append(n)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for s in made:
        s.close()


def pair(made: list[socket.socket]) -> tuple[socket.socket, socket.socket]:
    """(the relay's end, the home server's end)."""
    relay, home = socket.socketpair()
    made += [relay, home]
    return relay, home


def conn_id() -> str:
    return os.urandom(cloudwire.CONN_ID_BYTES).hex()


def line(name: str = NAME, cid: str | None = None, key: bytes = KEY) -> bytes:
    return cloudwire.pool_line(name, cid or conn_id(), key)


def closed(sock: socket.socket) -> bool:
    return sock.fileno() == -1


async def test_a_pool_line_with_the_right_mac_is_kept_idle(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry()
    registry.register(NAME, KEY, Wants())
    relay, _home = pair(sockets)
    assert await registry.offer(relay, line())
    assert registry.idle_count == 1 and registry.idle_of(NAME) == 1
    assert registry.is_linked(NAME) and registry.linked_names() == {NAME}


@pytest.mark.parametrize(
    "bad",
    [
        line(key=bytes(32)),  # wrong key
        line(name="other"),  # not linked
        b"DGPOOL1 home1 zz 00\n",  # malformed
        line()[:-1],  # no newline
        b"GET / HTTP/1.1\r\n",
    ],
    ids=["wrong-mac", "unknown-name", "malformed", "no-newline", "not-a-pool-line"],
)
async def test_a_bad_pool_line_is_refused_and_closed(
    sockets: list[socket.socket], bad: bytes
) -> None:
    registry = PoolRegistry()
    registry.register(NAME, KEY, Wants())
    relay, _home = pair(sockets)
    assert not await registry.offer(relay, bad)
    assert closed(relay) and registry.idle_count == 0


async def test_a_conn_id_is_accepted_once_per_link(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry()
    registry.register(NAME, KEY, Wants())
    cid = conn_id()
    first, _ = pair(sockets)
    replay, _ = pair(sockets)
    assert await registry.offer(first, line(cid=cid))
    assert not await registry.offer(replay, line(cid=cid))
    assert closed(replay) and registry.idle_count == 1


async def test_a_forged_line_does_not_burn_a_conn_id(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry()
    registry.register(NAME, KEY, Wants())
    cid = conn_id()
    forged, _ = pair(sockets)
    real, _ = pair(sockets)
    assert not await registry.offer(forged, line(cid=cid, key=bytes(32)))
    assert await registry.offer(real, line(cid=cid))


def test_seen_conn_ids_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pools, "SEEN_CONN_IDS", 3)
    entry = LinkEntry(NAME, KEY, Wants())
    ids = [conn_id() for _ in range(4)]
    assert all(entry.remember(c) for c in ids)
    assert not entry.remember(ids[3])
    assert len(entry.seen) == 3 and entry.remember(ids[0])  # the oldest was forgotten


async def test_idle_connections_are_capped_per_link(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry(max_idle_per_link=2)
    registry.register(NAME, KEY, Wants())
    results = [await registry.offer(pair(sockets)[0], line()) for _ in range(3)]
    assert results == [True, True, False]
    assert registry.idle_count == 2


@pytest.mark.parametrize("how", ["eof", "byte"])
async def test_an_idle_connection_that_closes_or_talks_is_dropped(
    sockets: list[socket.socket], how: str
) -> None:
    registry = PoolRegistry()
    registry.register(NAME, KEY, Wants())
    relay, home = pair(sockets)
    assert await registry.offer(relay, line())
    if how == "eof":
        home.shutdown(socket.SHUT_WR)
    else:
        home.send(b"x")
    await until(lambda: registry.idle_count == 0, what="the idle connection dropped")
    assert closed(relay)


async def test_take_hands_over_an_idle_socket_no_longer_watched(
    sockets: list[socket.socket],
) -> None:
    registry = PoolRegistry()
    registry.register(NAME, KEY, Wants())
    relay, home = pair(sockets)
    cid = conn_id()
    assert await registry.offer(relay, line(cid=cid))
    taken = await registry.take(NAME)
    assert taken == (relay, cid, KEY)
    assert registry.idle_count == 0
    home.send(b"server bytes")  # the caller's now: the registry must not drop it
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not closed(relay) and relay.recv(100) == b"server bytes"


async def test_take_skips_a_socket_found_dead(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry()
    registry.register(NAME, KEY, Wants())
    dead, dead_home = pair(sockets)
    alive, _ = pair(sockets)
    assert await registry.offer(dead, line())
    assert await registry.offer(alive, line())
    dead_home.close()  # the loop has not run the reader yet: take must notice by itself
    taken = await registry.take(NAME)
    assert taken is not None and taken[0] is alive
    assert closed(dead)


async def test_take_asks_for_more_and_gets_the_next_offer(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry()
    wants = Wants()
    registry.register(NAME, KEY, wants)
    relay, _ = pair(sockets)
    waiting = asyncio.create_task(registry.take(NAME))
    await until(lambda: wants.calls == [1], what="want(1)")
    assert await registry.offer(relay, line())
    taken = await asyncio.wait_for(waiting, 5)
    assert taken is not None and taken[0] is relay
    assert registry.idle_count == 0


async def test_take_gives_up_after_the_attach_timeout() -> None:
    registry = PoolRegistry(attach_timeout_s=0.05)
    wants = Wants()
    registry.register(NAME, KEY, wants)
    assert await registry.take(NAME) is None
    assert wants.calls == [1]


async def test_take_of_an_unlinked_name_is_none() -> None:
    registry = PoolRegistry()
    assert await registry.take(NAME) is None


async def test_a_cancelled_take_leaves_the_next_offer_idle(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry()
    wants = Wants()
    registry.register(NAME, KEY, wants)
    waiting = asyncio.create_task(registry.take(NAME))
    await until(lambda: wants.calls == [1], what="want(1)")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await registry.offer(pair(sockets)[0], line())
    assert registry.idle_count == 1


async def test_a_socket_handed_over_as_the_wait_is_cancelled_is_not_lost(
    sockets: list[socket.socket],
) -> None:
    registry = PoolRegistry()
    wants = Wants()
    registry.register(NAME, KEY, wants)
    waiting = asyncio.create_task(registry.take(NAME))
    await until(lambda: wants.calls == [1], what="want(1)")
    assert await registry.offer(pair(sockets)[0], line())  # resolves the waiter...
    waiting.cancel()  # ...and the task is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert registry.idle_count == 1


async def test_a_new_link_replaces_the_old_one_and_its_key(sockets: list[socket.socket]) -> None:
    registry = PoolRegistry()
    old = registry.register(NAME, KEY, Wants())
    relay, _ = pair(sockets)
    assert await registry.offer(relay, line())
    new_key = bytes(32 * [7])
    new = registry.register(NAME, new_key, Wants())
    assert old.closed and closed(relay) and registry.idle_count == 0
    assert not await registry.offer(pair(sockets)[0], line())  # the old key is dead
    assert await registry.offer(pair(sockets)[0], line(key=new_key))
    registry.unregister(old)  # the old link's late goodbye changes nothing
    assert registry.is_linked(NAME) and not new.closed and registry.idle_count == 1


async def test_unregister_closes_idle_connections_and_wakes_waiters(
    sockets: list[socket.socket],
) -> None:
    registry = PoolRegistry(max_idle_per_link=1)
    wants = Wants()
    entry = registry.register(NAME, KEY, wants)
    relay, _ = pair(sockets)
    assert await registry.offer(relay, line())
    assert (await registry.take(NAME)) is not None  # now none idle
    waiting = asyncio.create_task(registry.take(NAME))
    await until(lambda: wants.calls == [1], what="want(1)")
    other, _ = pair(sockets)
    registry.unregister(entry)
    assert await asyncio.wait_for(waiting, 5) is None
    assert not registry.is_linked(NAME)
    assert not await registry.offer(other, line())


async def test_a_failing_want_does_not_break_take(caplog: pytest.LogCaptureFixture) -> None:
    registry = PoolRegistry(attach_timeout_s=0.05)

    def broken(n: int) -> None:
        raise RuntimeError("link gone")

    registry.register(NAME, KEY, broken)
    assert await registry.take(NAME) is None


async def test_nothing_logged_holds_the_pool_key(
    sockets: list[socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="domogate.cloud")
    registry = PoolRegistry()
    entry = registry.register(NAME, KEY, Wants())
    await registry.offer(pair(sockets)[0], line(key=bytes(32)))
    await registry.offer(pair(sockets)[0], line())
    registry.unregister(entry)
    text = caplog.text + repr(entry)
    assert "wrong MAC" in text
    assert KEY.hex() not in text and repr(KEY) not in text
