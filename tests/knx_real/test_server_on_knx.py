"""A real `domogate server --bus knx` against knxd, operated by WebSocket clients.

Issue 4, must hold 1, 2 and 4: commands reach the bus with the right encoding; telegrams
reach every client allowed to see the object and no other; see-but-not-operate is refused
with nothing sent; a bus drop is shown to admins, commands fail fast while it lasts, and
states are read again when the bus is back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from xknx.dpt import DPTBinary

from tests.support.knxd_peer import KnxdClient, KnxdPeer
from tests.support.objects_project import project_with_objects
from tests.support.processes import ServerProcess, deploy_first, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def knx_server(knxd: KnxdPeer, tmp_path: Path) -> Iterator[ServerProcess]:
    sp = ServerProcess(
        tmp_path / "data",
        free_port(),
        tmp_path / "server.log",
        extra_args=[
            "--bus",
            "knx",
            "--knx-gateway",
            f"{knxd.host}:{knxd.port}",
            "--knx-local-ip",
            "127.0.0.1",
        ],
    )
    sp.start()
    deploy_first(project_with_objects(tmp_path), sp)
    yield sp
    sp.stop()


class Client:
    """One WebSocket client of the server, signed in with a password."""

    def __init__(self, server: ServerProcess, username: str, password: str) -> None:
        self.server = server
        self.username = username
        self.password = password
        self.ws: Any = None
        self.backlog: list[dict[str, Any]] = []

    async def open(self) -> Client:
        from domogate.core import devicekeys

        key = devicekeys.generate_private_key()
        with self.server.http() as http:
            r = http.post(
                "/api/auth/password",
                json={
                    "username": self.username,
                    "password": self.password,
                    "device": {"name": "test", "public_key": devicekeys.public_key_of(key)},
                },
            )
        assert r.status_code == 200, r.text
        url = self.server.url.replace("https://", "wss://") + "/api/ws"
        self.ws = await websockets.connect(url, ssl=self.server.ssl_context())
        await self.ws.send(json.dumps({"type": "auth", "token": r.json()["session"]["token"]}))
        assert (await self.next("hello"))["type"] == "hello"
        return self

    async def recv(self, timeout: float) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))  # type: ignore[no-any-return]

    async def next(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next message of this type (and these fields); others wait in the backlog."""
        deadline = time.monotonic() + timeout
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        raise TimeoutError
                    msg = await self.recv(left)
                except TimeoutError:
                    got = [(m.get("type"), m.get("object") or m.get("connected")) for m in skipped]
                    raise AssertionError(
                        f"{self.username}: no {kind} {match} within {timeout} s; got {got}\n"
                        f"server log:\n{self.server.log()[-2000:]}"
                    ) from None
                if msg.get("type") == kind and all(msg.get(k) == v for k, v in match.items()):
                    return msg
                skipped.append(msg)
        finally:
            self.backlog = skipped + self.backlog

    async def command(self, object_id: str, attribute: str, value: Any) -> dict[str, Any]:
        cid = f"{object_id}.{attribute}.{time.monotonic_ns()}"
        await self.ws.send(
            json.dumps(
                {
                    "type": "command",
                    "id": cid,
                    "object": object_id,
                    "attribute": attribute,
                    "value": value,
                }
            )
        )
        return await self.next("result", id=cid)

    async def quiet(self) -> list[dict[str, Any]]:
        """Everything received up to the answer to a ping sent now."""
        await self.ws.send(json.dumps({"type": "ping"}))
        out = list(self.backlog)
        self.backlog = []
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
            if msg["type"] == "pong":
                return out
            out.append(msg)

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def clients(knx_server: ServerProcess) -> AsyncIterator[tuple[Client, Client]]:
    alice = await Client(knx_server, "alice", "alice-password").open()
    bob = await Client(knx_server, "bob", "bob-password").open()
    await alice.next("bus", timeout=15, connected=True)
    yield alice, bob
    await alice.close()
    await bob.close()


async def test_commands_reach_knx_with_the_datapoint_encoding(
    clients: tuple[Client, Client], knx_monitor: KnxdClient
) -> None:
    alice, _ = clients
    assert (await alice.command("light", "on", True))["ok"] is True
    seen = await knx_monitor.wait_for(lambda t: t.kind == "write" and t.address == "1/1/1")
    assert seen.payload == DPTBinary(1)

    assert (await alice.command("dimmer", "brightness", 40))["ok"] is True
    seen = await knx_monitor.wait_for(lambda t: t.kind == "write" and t.address == "1/2/3")
    assert seen.data == bytes([0x66])  # 40 % of 255, DPT 5.001

    assert (await alice.command("thermostat", "target", 21.5))["ok"] is True
    seen = await knx_monitor.wait_for(lambda t: t.kind == "write" and t.address == "3/1/2")
    assert seen.data == bytes([0x0C, 0x33])  # 2-byte float, DPT 9.001


async def test_see_but_not_operate_is_forbidden_and_nothing_reaches_the_bus(
    clients: tuple[Client, Client], knx_monitor: KnxdClient
) -> None:
    alice, bob = clients
    refused = await bob.command("dimmer", "brightness", 40)
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    hidden = await bob.command("thermostat", "target", 20)
    assert hidden["error"]["code"] == "not_found"
    # A later command that is allowed shows the bus works and nothing else was sent before.
    assert (await alice.command("light", "on", False))["ok"] is True
    await knx_monitor.wait_for(lambda t: t.kind == "write" and t.address == "1/1/1")
    writes = [t.address for t in knx_monitor.seen if t.kind == "write"]
    assert writes == ["1/1/1"]


async def test_telegrams_reach_the_clients_allowed_to_see_them_and_no_other(
    clients: tuple[Client, Client], knx_monitor: KnxdClient
) -> None:
    alice, bob = clients
    await alice.quiet()
    await bob.quiet()
    await knx_monitor.write_value("3/1/1", "9.001", 19.5)  # bedroom: family only
    state = await alice.next("state", object="thermostat")
    assert state["state"]["temperature"] == 19.5
    await knx_monitor.write_value("1/1/2", "1.001", True)  # living light: everyone
    assert (await alice.next("state", object="light"))["state"] == {"on": True}
    assert (await bob.next("state", object="light"))["state"] == {"on": True}
    leaked = [m for m in await bob.quiet() if m.get("object") == "thermostat"]
    assert leaked == []
    await knx_monitor.write_value("1/2/4", "5.001", 55)  # dimmer feedback: everyone sees it
    assert (await bob.next("state", object="dimmer"))["state"]["brightness"] == 55


async def test_a_bus_drop_is_shown_commands_fail_fast_and_states_are_read_again(
    clients: tuple[Client, Client], knxd: KnxdPeer
) -> None:
    alice, bob = clients
    knxd.stop(kill=True)
    down = await alice.next("bus", timeout=20, connected=False)
    assert down["adapter"] == "knx"
    started = time.monotonic()
    result = await alice.command("light", "on", True)
    assert result["error"]["code"] == "bus_unavailable"
    assert time.monotonic() - started < 0.5
    assert all(m.get("type") != "bus" for m in await bob.quiet()), "bus state is for admins"

    knxd.start()
    async with KnxdClient(knxd.socket_path) as monitor:
        await alice.next("bus", timeout=30, connected=True)
        read = await monitor.wait_for(lambda t: t.kind == "read" and t.address == "1/2/4", 10)
        assert read.address == "1/2/4"
        await monitor.respond("1/2/4", "5.001", 20)
        assert (await alice.next("state", object="dimmer"))["state"]["brightness"] == 20
    assert (await alice.command("light", "on", True))["ok"] is True
