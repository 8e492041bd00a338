"""Maintenance routes: the service password opens a short session; admins, info, audit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.support.live import Live
from tests.support.services_env import SERVICE_PASSWORD


async def unlock(live: Live, password: str = SERVICE_PASSWORD) -> Any:
    return await live.http.post("/api/maintenance/session", json={"password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_session(live: Live) -> str:
    r = await unlock(live)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def test_service_password_opens_the_overview(live: Live) -> None:
    token = await open_session(live)
    r = await live.http.get("/api/maintenance", headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["server"]["id"] == "srv-test"
    assert body["server"]["software_version"]
    assert body["project"]["name"] == "Test house"
    assert body["project"]["version"] == 1
    assert body["project"]["groups"] == ["family", "guests"]
    assert body["admins"] == ["alice"]
    assert {u["name"]: u["admin"] for u in body["users"]} == {"alice": True, "bob": False}
    actions = [e["action"] for e in body["audit"]]
    assert "maintenance.unlock" in actions and "deploy" in actions
    assert "password" not in json.dumps(body["project"]).lower().replace("use_otp", "")


async def test_the_overview_has_the_documented_shape_and_names_unnamed_slots(
    live: Live,
) -> None:
    """docs/api.md's shape of GET /api/maintenance, with an unnamed slot listed last."""
    await live.http.post("/api/clients", json={}, headers=live.bearer(await live.login()))
    token = await open_session(live)
    body = (await live.http.get("/api/maintenance", headers=bearer(token))).json()
    assert set(body) == {"server", "project", "admins", "users", "audit", "cloud", "update"}
    assert set(body["server"]) == {"id", "fingerprint", "software_version", "address", "https"}
    assert set(body["project"]) == {
        "name", "version", "deployed_at", "groups", "use_otp_authentication",
        "automatic_authentication", "connection_policy", "cloud_enabled",
    }  # fmt: skip
    assert body["project"]["deployed_at"].endswith("Z")
    row = {"id", "name", "named", "group", "admin", "origin", "revoked", "devices"}
    assert all(set(u) == row for u in body["users"])
    assert [u["named"] for u in body["users"]] == [True, True, False]
    slot = body["users"][-1]
    assert slot["name"].startswith("(unnamed slot added ") and slot["name"].endswith(" UTC)")
    assert (slot["origin"], slot["devices"], slot["revoked"]) == ("admin", 0, False)


async def test_wrong_password_and_no_token_are_refused(live: Live) -> None:
    r = await unlock(live, "not-it")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"
    r = await live.http.get("/api/maintenance")
    assert r.status_code == 401
    r = await live.http.get("/api/maintenance", headers=bearer("made-up"))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
    # A user's session token is not a maintenance token.
    auth = await live.login()
    r = await live.http.get("/api/maintenance", headers=live.bearer(auth))
    assert r.status_code == 401
    token = await open_session(live)
    events = (await live.http.get("/api/maintenance", headers=bearer(token))).json()["audit"]
    outcomes = [(e["action"], e["outcome"]) for e in events]
    assert ("maintenance.unlock", "invalid_credentials") in outcomes


async def test_throttled_like_password_logins(live: Live) -> None:
    codes = [(await unlock(live, f"guess-{i}")).status_code for i in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    r = await unlock(live)  # even the right password waits: the source is throttled
    assert r.status_code == 429
    assert float(r.json()["error"]["details"]["retry_after"]) > 0
    assert r.headers["Retry-After"]


async def test_session_expires_and_lock_ends_it(live: Live) -> None:
    token = await open_session(live)
    assert (
        await live.http.delete("/api/maintenance/session", headers=bearer(token))
    ).status_code == 204
    assert (await live.http.get("/api/maintenance", headers=bearer(token))).status_code == 401
    token = await open_session(live)
    live.env.clock.advance(live.env.services.settings.session_ttl.total_seconds() + 1)
    assert (await live.http.get("/api/maintenance", headers=bearer(token))).status_code == 401


async def test_grant_and_remove_admin_reach_admin_views_and_rights(live: Live) -> None:
    token = await open_session(live)
    users = (await live.http.get("/api/maintenance", headers=bearer(token))).json()["users"]
    bob = next(u for u in users if u["name"] == "bob")
    alice_auth = await live.login()
    bob_auth = await live.login("bob", "bob-password")
    assert (await live.http.get("/api/clients", headers=live.bearer(bob_auth))).status_code == 403

    ws = await websockets.connect(live.ws_url)
    try:
        await ws.send(json.dumps({"type": "auth", "token": alice_auth["session"]["token"]}))
        r = await live.http.put(
            f"/api/maintenance/users/{bob['id']}/admin", json={"admin": True}, headers=bearer(token)
        )
        assert r.status_code == 200, r.text
        assert r.json()["user"]["admin"] is True
        # alice's open Manage clients view gets the new list.
        deadline = asyncio.get_running_loop().time() + 2
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 2))
            if msg["type"] == "clients":
                row = next((c for c in msg["clients"] if c["name"] == "bob"), None)
                if row and row["admin"]:
                    break
            assert asyncio.get_running_loop().time() < deadline
    finally:
        await ws.close()
    r = await live.http.get("/api/clients", headers=live.bearer(bob_auth))
    assert r.status_code == 200
    assert r.json()["groups"] == ["family", "guests"]

    r = await live.http.put(
        f"/api/maintenance/users/{bob['id']}/admin", json={"admin": False}, headers=bearer(token)
    )
    assert r.json()["user"]["admin"] is False
    assert (await live.http.get("/api/clients", headers=live.bearer(bob_auth))).status_code == 403
    body = (await live.http.get("/api/maintenance", headers=bearer(token))).json()
    assert body["admins"] == ["alice"]
    done = [(e["action"], e["target_name"]) for e in body["audit"]]
    assert ("admin.grant", "bob") in done and ("admin.revoke", "bob") in done

    r = await live.http.put(
        "/api/maintenance/users/nobody/admin", json={"admin": True}, headers=bearer(token)
    )
    assert r.status_code == 404


async def test_without_a_service_password_maintenance_says_how_to_set_one(tmp_path: Any) -> None:
    from domogate.errors import Conflict
    from domogate.services.context import RequestContext
    from tests.support.services_env import make_env

    env = await make_env(tmp_path, password=None)
    try:
        with pytest.raises(Conflict, match="domogate project password"):
            await env.services.maintenance.unlock(RequestContext("127.0.0.1"), "anything")
    finally:
        await env.services.close()
