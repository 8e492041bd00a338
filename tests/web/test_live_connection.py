"""A connection's bounded queue: a client that cannot keep up is closed and told why."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from domogate.core.accounts import ConnectionPath, User, UserOrigin
from domogate.services.context import Caller, RequestContext
from domogate.services.sessions import Session
from domogate.web.live import Connection, RawSocket


def caller() -> Caller:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    user = User("u", "n", "g", False, UserOrigin.ADMIN, now)
    session = Session("h", "u", "d", ConnectionPath.LOCAL, "s", now, now)
    return Caller(session, user, RequestContext("s"))


async def test_slow_client_is_closed_with_too_slow() -> None:
    sent: list[dict[str, Any]] = []
    release = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        await release.wait()  # the network is stuck

    conn = Connection(RawSocket(receive, send), caller(), limit=3)
    assert conn.push({"n": 0})
    await asyncio.sleep(0)  # the sender takes message 0 and blocks on it
    for i in range(1, 4):
        assert conn.push({"n": i})
    assert not conn.push({"n": 4})  # the fourth waiting message overflows the queue
    assert conn.closing
    release.set()
    await conn.finish()
    kinds = [m["type"] for m in sent]
    assert kinds[0] == "websocket.send" and kinds[-1] == "websocket.close"
    assert sent[-1]["code"] == 4429
    assert '"too_slow"' in sent[-2]["text"]
    assert len(sent) == 3  # message 0, the error, the close: the backlog was dropped


async def test_idle_connection_holds_no_queue_and_no_task() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    conn = Connection(RawSocket(receive, send), caller(), limit=3)
    conn.push("hello")
    # sent at once, within push(): no queue and no task for a client that keeps up
    assert sent == [{"type": "websocket.send", "text": "hello"}]
    assert conn.queue is None
    assert conn.sender is None
    await conn.finish()


async def test_a_send_that_has_to_wait_finishes_in_a_task_and_keeps_the_order() -> None:
    sent: list[str] = []
    writable = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        await writable.wait()  # like uvicorn while the transport is paused
        sent.append(message["text"])

    conn = Connection(RawSocket(receive, send), caller(), limit=10)
    for i in range(3):
        assert conn.push(f"m{i}")
    assert sent == [] and conn.sender is not None
    writable.set()
    await conn.finish()
    assert sent == ["m0", "m1", "m2"]
    assert conn.queue is None
    conn.push("m3")  # writable again: straight out
    assert sent[-1] == "m3"
