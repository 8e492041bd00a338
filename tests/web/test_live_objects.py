"""Operating objects over /api/ws and REST, against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.support.deploy_auth import deploy_headers
from tests.support.live import Live, next_of, ws_open
from tests.support.services_env import SERVICE_PASSWORD, project_data


async def command(
    ws: Any, object_id: str, attribute: str, value: Any, cid: str, seen: list[Any] | None = None
) -> dict[str, Any]:
    """Send a command and wait for its result; other messages go to ``seen``."""
    await ws.send(
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
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 2))
        if msg["type"] == "result" and msg["id"] == cid:
            return msg  # type: ignore[no-any-return]
        if seen is not None:
            seen.append(msg)


async def drain_until_pong(ws: Any) -> list[dict[str, Any]]:
    """Everything the server sent before it answers a ping sent now."""
    await ws.send(json.dumps({"type": "ping"}))
    seen = []
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 2))
        if msg["type"] == "pong":
            return seen
        seen.append(msg)


async def test_states_after_hello_follow_the_group(live: Live) -> None:
    alice, bob = await live.login(), await live.login("bob", "bob-password")
    ws_a, ws_b = await ws_open(live, alice), await ws_open(live, bob)
    try:
        states_a = (await next_of(ws_a, "states"))["states"]
        states_b = (await next_of(ws_b, "states"))["states"]
        assert set(states_a) == {"hall", "safe", "kitchen", "bedroom"}
        assert set(states_b) == {"hall", "kitchen"}
        bus = await next_of(ws_a, "bus")
        assert bus == {
            "type": "bus",
            "adapter": "recording",
            "connected": True,
            "detail": "test bus",
        }
        assert all(m["type"] != "bus" for m in await drain_until_pong(ws_b)), "admins only"
    finally:
        await ws_a.close()
        await ws_b.close()


async def test_a_command_is_written_and_its_state_reaches_everyone_who_sees_it(
    live: Live,
) -> None:
    alice, bob = await live.login(), await live.login("bob", "bob-password")
    ws_a, ws_b = await ws_open(live, alice), await ws_open(live, bob)
    try:
        await drain_until_pong(ws_a)
        await drain_until_pong(ws_b)
        seen: list[Any] = []
        result = await command(ws_a, "hall", "on", True, "c1", seen)
        assert result == {"type": "result", "id": "c1", "ok": True}
        assert live.env.bus.written == [("1/1/1", "1.001", True)]
        expected = {"type": "state", "object": "hall", "state": {"on": True}}
        assert expected in seen + await drain_until_pong(ws_a)
        assert await next_of(ws_b, "state") == expected
    finally:
        await ws_a.close()
        await ws_b.close()


async def test_hidden_objects_never_reach_other_groups(live: Live) -> None:
    alice, bob = await live.login(), await live.login("bob", "bob-password")
    ws_a, ws_b = await ws_open(live, alice), await ws_open(live, bob)
    try:
        await drain_until_pong(ws_a)
        await drain_until_pong(ws_b)
        live.env.bus.inject("1/1/9", True)  # the safe: family only
        live.env.bus.inject("3/1/1", 19.5)  # the bedroom thermostat: family only
        assert (await next_of(ws_a, "state"))["object"] == "safe"
        assert (await next_of(ws_a, "state"))["object"] == "bedroom"
        leaked = [m for m in await drain_until_pong(ws_b) if m["type"] == "state"]
        assert leaked == []
        r = await live.http.get("/api/states", headers=live.bearer(bob))
        assert set(r.json()["states"]) == {"hall", "kitchen"}
    finally:
        await ws_a.close()
        await ws_b.close()


async def test_refused_commands_answer_with_their_code_and_send_nothing(live: Live) -> None:
    bob = await live.login("bob", "bob-password")
    ws = await ws_open(live, bob)
    try:
        forbidden = await command(ws, "kitchen", "on", True, "a")
        assert forbidden["ok"] is False and forbidden["error"]["code"] == "forbidden"
        hidden = await command(ws, "safe", "on", True, "b")
        assert hidden["error"]["code"] == "not_found"
        invalid = await command(ws, "hall", "on", "yes", "c")
        assert invalid["error"]["code"] == "value_invalid"
        malformed = await command(ws, "hall", "on", None, "d")
        assert malformed["error"]["code"] == "value_invalid"
        await ws.send(json.dumps({"type": "command", "id": "e", "object": "hall"}))
        assert (await next_of(ws, "result"))["error"]["code"] == "invalid_input"
        assert live.env.bus.written == []
    finally:
        await ws.close()


async def test_bus_down_is_shown_to_admins_and_commands_fail_fast(live: Live) -> None:
    alice = await live.login()
    ws = await ws_open(live, alice)
    try:
        await drain_until_pong(ws)
        live.env.bus.set_connected(False)
        assert (await next_of(ws, "bus"))["connected"] is False
        result = await command(ws, "hall", "on", True, "x")
        assert result["error"]["code"] == "bus_unavailable"
        r = await live.http.post(
            "/api/objects/hall/command",
            json={"attribute": "on", "value": True},
            headers=live.bearer(alice),
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "bus_unavailable"
        live.env.bus.set_connected(True)
        assert (await next_of(ws, "bus"))["connected"] is True
        assert (await command(ws, "hall", "on", True, "y"))["ok"] is True
    finally:
        await ws.close()


async def test_commands_are_throttled_per_user_across_sockets_and_rest(live: Live) -> None:
    alice = await live.login()
    ws = await ws_open(live, alice)
    second = await ws_open(live, alice)
    try:
        for _ in range(20):  # REST and another socket draw on the same allowance
            r = await live.http.post(
                "/api/objects/hall/command",
                json={"attribute": "on", "value": True},
                headers=live.bearer(alice),
            )
            assert r.status_code == 200
        assert (await command(second, "hall", "on", True, "s"))["ok"] is True
        for i in range(60):
            await ws.send(
                json.dumps(
                    {
                        "type": "command",
                        "id": i,
                        "object": "hall",
                        "attribute": "on",
                        "value": i % 2 == 0,
                    }
                )
            )
        codes = []
        while len(codes) < 60:
            msg = await next_of(ws, "result")
            codes.append("ok" if msg["ok"] else msg["error"]["code"])
        assert 29 <= codes.count("ok") <= 35 and codes.count("rate_limited") >= 25
        r = await live.http.post(
            "/api/objects/hall/command",
            json={"attribute": "on", "value": True},
            headers=live.bearer(alice),
        )
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    finally:
        await ws.close()
        await second.close()


async def test_hostile_values_and_messages_get_clean_errors(live: Live) -> None:
    alice = await live.login()
    ws = await ws_open(live, alice)
    try:
        huge = await command(ws, "kitchen", "brightness", 10**400, "big")
        assert huge["error"]["code"] == "value_invalid"
        nested = await command(ws, "kitchen", "brightness", {"a": [[[1]]]}, "nest")
        assert nested["error"]["code"] == "value_invalid"
        await ws.send("[" * 30000 + "]" * 30000)
        error = await next_of(ws, "error")
        assert error["error"]["code"] == "invalid_input"
        assert ws.close_code in (None, 4400)
    finally:
        await ws.close()
    r = await live.http.post(
        "/api/objects/kitchen/command",
        content='{"attribute": "brightness", "value": ' + "[" * 30000 + "]" * 30000 + "}",
        headers={**live.bearer(alice), "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422) and r.json()["error"]["code"] == "invalid_input"
    r = await live.http.post(
        "/api/objects/kitchen/command",
        json={"attribute": "brightness", "value": 10**400},
        headers=live.bearer(alice),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "value_invalid"


async def test_a_deploy_that_moves_a_user_changes_what_their_socket_sees_and_may_do(
    live: Live,
) -> None:
    bob = await live.login("bob", "bob-password")
    ws = await ws_open(live, bob)
    try:
        assert set((await next_of(ws, "states"))["states"]) == {"hall", "kitchen"}
        data = project_data()
        for user in data["users"]:
            if user["name"] == "bob":
                user["group"] = "family"
        r = await live.http.post(
            "/api/deploy", json={"project": data}, headers=deploy_headers(password=SERVICE_PASSWORD)
        )
        assert r.status_code == 200, r.text
        # at once: the command is checked against bob's new group, not the cached one
        seen: list[Any] = []
        assert (await command(ws, "safe", "on", True, "now", seen))["ok"] is True
        seen += await drain_until_pong(ws)
        states = [m for m in seen if m["type"] == "states"]
        assert set(states[-1]["states"]) == {"hall", "safe", "kitchen", "bedroom"}
    finally:
        await ws.close()
    alice = await live.login()
    ws = await ws_open(live, alice)
    try:
        data = project_data()
        for user in data["users"]:
            if user["name"] == "alice":
                user["group"] = "guests"
        r = await live.http.post(
            "/api/deploy", json={"project": data}, headers=deploy_headers(password=SERVICE_PASSWORD)
        )
        assert r.status_code == 200, r.text
        seen = []
        refused = await command(ws, "safe", "on", False, "moved", seen)
        assert refused["error"]["code"] == "not_found"
        seen += await drain_until_pong(ws)
        states = [m for m in seen if m["type"] == "states"]
        assert set(states[-1]["states"]) == {"hall", "kitchen"}
        leaked = [m for m in seen if m["type"] == "state" and m["object"] == "safe"]
        assert leaked == []
    finally:
        await ws.close()


async def test_rest_commands_and_states(live: Live) -> None:
    alice, bob = await live.login(), await live.login("bob", "bob-password")
    r = await live.http.post(
        "/api/objects/kitchen/command",
        json={"attribute": "brightness", "value": 40},
        headers=live.bearer(alice),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"] == 40 and body["state"] == {"on": None, "brightness": 40}
    r = await live.http.post(
        "/api/objects/kitchen/command",
        json={"attribute": "brightness", "value": 40},
        headers=live.bearer(bob),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await live.http.get("/api/bus", headers=live.bearer(bob))
    assert r.status_code == 403
    r = await live.http.get("/api/bus", headers=live.bearer(alice))
    assert r.json()["connected"] is True


async def test_a_deploy_sends_the_new_states(live: Live) -> None:
    alice = await live.login()
    ws = await ws_open(live, alice)
    try:
        await drain_until_pong(ws)
        data = project_data()
        data["objects"] = [o for o in data["objects"] if o["id"] != "safe"]
        r = await live.http.post(
            "/api/deploy", json={"project": data}, headers=deploy_headers(password=SERVICE_PASSWORD)
        )
        assert r.status_code == 200, r.text
        assert (await next_of(ws, "project"))["version"] == 2
        states = (await next_of(ws, "states"))["states"]
        assert "safe" not in states and "hall" in states
    finally:
        await ws.close()


async def numbered(ws: Any, cid: str, value: Any, seq: int, tab: str = "tab1") -> dict[str, Any]:
    message = {"type": "command", "id": cid, "object": "hall", "attribute": "on",
               "value": value, "tab": tab, "seq": seq}  # fmt: skip
    await ws.send(json.dumps(message))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 2))
        if msg["type"] == "result" and msg["id"] == cid:
            return msg  # type: ignore[no-any-return]


async def test_a_pages_commands_run_in_its_order_whichever_path_delivers_them(
    live: Live,
) -> None:
    """A page that switched paths sends a command again on the new one; the old, stalled
    channel may still deliver it later. The same command runs once; an older one arriving
    after a newer one for the same target is refused (core/commandorder.py)."""
    alice = await live.login()
    old_path, new_path = await ws_open(live, alice), await ws_open(live, alice)
    try:
        await drain_until_pong(old_path)
        await drain_until_pong(new_path)
        # "on" (seq 1) is re-sent on the new path, then "off" (seq 2) is sent there
        assert (await numbered(new_path, "c1", True, 1))["ok"] is True
        assert (await numbered(new_path, "c2", False, 2))["ok"] is True
        # the stalled channel delivers seq 1 at last: not run
        late = await numbered(old_path, "c1", True, 1)
        assert late["ok"] is False and late["error"]["code"] == "command_stale"
        # seq 2 again (sent on both paths): run once, its first answer given
        again = await numbered(old_path, "c2", False, 2)
        assert again == {"type": "result", "id": "c2", "ok": True, "duplicate": True}
        assert live.env.bus.written == [("1/1/1", "1.001", True), ("1/1/1", "1.001", False)]
        # another page of the same device, and commands without numbers, are not ordered
        assert (await numbered(old_path, "d1", True, 1, tab="tab2"))["ok"] is True
        assert (await command(old_path, "hall", "on", False, "u1"))["ok"] is True
        assert len(live.env.bus.written) == 4
    finally:
        await old_path.close()
        await new_path.close()
