"""The HTTP and WebSocket contract against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time

import websockets
import zxingcpp
from PIL import Image

from domogate.core import devicekeys
from tests.support.deploy_auth import deploy_headers
from tests.support.live import Live, next_of, redeem, ws_open
from tests.support.services_env import SERVICE_PASSWORD, project_data


async def test_info_is_public(live: Live) -> None:
    r = await live.http.get("/api/info")
    assert r.status_code == 200
    body = r.json()
    assert body["server_id"] == "srv-test"
    assert body["version"] == 1
    assert body["name"] == "Test house"
    assert set(body["auth_methods"]) == {"password", "otp", "device"}
    assert "content-security-policy" in r.headers
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]


async def test_openapi_document(live: Live) -> None:
    r = await live.http.get("/api/openapi.json")
    paths = r.json()["paths"]
    for p in ("/api/info", "/api/auth/otp", "/api/auth/password", "/api/clients", "/api/deploy"):
        assert p in paths


async def test_errors_are_json_with_stable_codes(live: Live) -> None:
    r = await live.http.post(
        "/api/auth/otp", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
    r = await live.http.post(
        "/api/auth/otp", json={"otp": "x", "device": {"name": "d", "public_key": "k"}, "extra": 1}
    )
    assert r.status_code == 422 and "extra" in r.json()["error"]["message"]
    r = await live.http.post(
        "/api/auth/otp",
        content=b"{" + b" " * 70_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = await live.http.get("/api/clients")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    r = await live.http.get("/api/clients", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await live.http.get("/api/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_non_admin_is_forbidden(live: Live) -> None:
    bob = await live.login("bob", "bob-password")
    r = await live.http.get("/api/clients", headers=live.bearer(bob))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await live.http.get("/api/audit", headers=live.bearer(bob))
    assert r.status_code == 403


async def test_restricted_group_never_receives_hidden_objects(live: Live) -> None:
    bob = await live.login("bob", "bob-password")
    r = await live.http.get("/api/project", headers=live.bearer(bob))
    assert r.status_code == 200
    text = r.text
    assert "hall" in text
    assert "safe" not in text and "Safe" not in text and "first" not in text
    assert "$argon2" not in text
    alice = await live.login()
    r = await live.http.get("/api/project", headers=live.bearer(alice))
    assert "safe" in r.text and "$argon2" not in r.text


async def test_add_client_qr_and_live_list(live: Live) -> None:
    admin = await live.login()
    ws = await ws_open(live, admin)
    try:
        first = await next_of(ws, "clients")
        assert all(c["status"] != "Pending" for c in first["clients"])
        r = await live.http.post(
            "/api/clients", json={"group": "guests"}, headers=live.bearer(admin)
        )
        assert r.status_code == 200, r.text
        issued = r.json()
        otp = issued["otp"]
        # The list pushed after the POST; an earlier push (the admin's own presence, say)
        # may still be on its way first, so wait for the one that holds the new slot.
        deadline = time.monotonic() + 2.0
        while True:
            update = await next_of(ws, "clients", max(0.01, deadline - time.monotonic()))
            rows = [c for c in update["clients"] if c["id"] == issued["client"]["id"]]
            if rows:
                break
        row = rows[0]
        assert row["label"] == otp and row["status"] == "Pending"

        png = await live.http.get(
            f"/api/clients/{issued['client']['id']}/qr.png", headers=live.bearer(admin)
        )
        assert png.headers["content-type"] == "image/png"
        decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
        assert [d.text for d in decoded] == [issued["join_link"]]
        svg = await live.http.get(
            f"/api/clients/{issued['client']['id']}/qr.svg", headers=live.bearer(admin)
        )
        assert svg.headers["content-type"].startswith("image/svg+xml")

        newcomer = await redeem(live, otp, "Zoé")
        nws = await ws_open(live, newcomer)
        try:
            deadline = time.monotonic() + 1.0
            while True:
                update = await next_of(
                    ws, "clients", timeout=max(0.05, deadline - time.monotonic())
                )
                row = next(c for c in update["clients"] if c["id"] == issued["client"]["id"])
                if row["status"] == "Online":
                    break
            assert row["label"] == "Zoé" and row["name"] == "Zoé"
            assert row["devices"][0]["path"] == "local"
        finally:
            await nws.close()
        r = await live.http.get(
            f"/api/clients/{issued['client']['id']}/qr.png", headers=live.bearer(admin)
        )
        assert r.status_code == 404
    finally:
        await ws.close()


async def test_revocation_closes_live_connections_within_a_second(live: Live) -> None:
    admin = await live.login()
    r = await live.http.post("/api/clients", json={}, headers=live.bearer(admin))
    issued = r.json()
    user_id = issued["client"]["id"]
    first = await redeem(live, issued["otp"], "Eve")
    r = await live.http.post(f"/api/clients/{user_id}/otp", json={}, headers=live.bearer(admin))
    second = await redeem(live, r.json()["otp"], "ignored")
    ws1 = await ws_open(live, first)
    ws2 = await ws_open(live, second)
    try:
        t0 = time.monotonic()
        r = await live.http.delete(
            f"/api/clients/{user_id}/devices/{first['device']['id']}", headers=live.bearer(admin)
        )
        assert r.status_code == 200
        err = await next_of(ws1, "error", timeout=1.0)
        assert err["error"]["code"] == "revoked"
        try:
            await asyncio.wait_for(ws1.recv(), 1.0)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
        assert time.monotonic() - t0 < 1.0
        # the other device stays connected
        await ws2.send(json.dumps({"type": "ping"}))
        assert (await next_of(ws2, "pong"))["type"] == "pong"
        # its next sign-in is refused
        ch = await live.http.post("/api/auth/challenge", json={"device_id": first["device"]["id"]})
        c = ch.json()["challenge"]
        sig = devicekeys.sign(
            first["_key"], devicekeys.challenge_message("srv-test", first["device"]["id"], c)
        )
        r = await live.http.post(
            "/api/auth/device",
            json={"device_id": first["device"]["id"], "challenge": c, "signature": sig},
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "revoked"
        # revoking the whole user closes the other one too
        r = await live.http.delete(f"/api/clients/{user_id}", headers=live.bearer(admin))
        assert r.status_code == 200 and r.json()["client"]["status"] == "Revoked"
        err = await next_of(ws2, "error", timeout=1.0)
        assert err["error"]["code"] == "revoked"
    finally:
        await ws1.close()
        await ws2.close()


async def test_clients_are_told_the_new_project_version(live: Live) -> None:
    bob = await live.login("bob", "bob-password")
    ws = await ws_open(live, bob)
    try:
        r = await live.http.post(
            "/api/deploy",
            json={"project": project_data()},
            headers=deploy_headers(password=SERVICE_PASSWORD),
        )
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2
        msg = await next_of(ws, "project")
        assert msg["version"] == 2
    finally:
        await ws.close()


async def test_deploy_refuses_bad_credentials_and_invalid_projects(live: Live) -> None:
    r = await live.http.post(
        "/api/deploy", json={"project": project_data()}, headers=deploy_headers(password="wrong")
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    r = await live.http.post(
        "/api/deploy",
        json={"project": project_data()},
        headers=deploy_headers(setup_code="ACDE-FGHJ-KLMN"),
    )
    assert r.status_code == 401
    bad = project_data()
    bad["users"][0]["group"] = "nobody"
    r = await live.http.post(
        "/api/deploy", json={"project": bad}, headers=deploy_headers(password=SERVICE_PASSWORD)
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "project_invalid"
    assert "users[0].group" in json.dumps(r.json())
    info = (await live.http.get("/api/info")).json()
    assert info["version"] == 1


async def test_websocket_requires_auth_message(live: Live) -> None:
    ws = await websockets.connect(live.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": "forged"}))
    msg = json.loads(await ws.recv())
    assert msg["error"]["code"] == "unauthenticated"
    try:
        await ws.recv()
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4401


async def test_audit_log_records_events_without_secrets(live: Live) -> None:
    admin = await live.login()
    r = await live.http.post("/api/clients", json={}, headers=live.bearer(admin))
    otp = r.json()["otp"]
    await redeem(live, otp, "Fay")
    await live.http.post(
        "/api/auth/otp", json={"otp": otp, "name": "x", "device": {"name": "d", "public_key": "k"}}
    )
    r = await live.http.get("/api/audit.jsonl", headers=live.bearer(admin))
    lines = [json.loads(line) for line in r.text.splitlines()]
    actions = [(e["action"], e["outcome"]) for e in lines]
    assert ("client.add", "ok") in actions
    assert ("otp.redeem", "ok") in actions
    assert ("otp.redeem", "otp_used") in actions
    assert ("login.password", "ok") in actions
    assert otp not in r.text and otp.replace("-", "") not in r.text
    assert "correct horse" not in r.text


async def test_demoted_admin_stops_receiving_the_client_list(live: Live) -> None:
    from domogate.services.deploy import set_admin

    alice = await live.login()
    ws = await ws_open(live, alice)
    try:
        await next_of(ws, "clients")
        store = live.env.store
        await set_admin(store, "bob", True)
        await set_admin(store, "alice", False)  # as `domogate server admin revoke` does
        bob = await live.login("bob", "bob-password")
        r = await live.http.post("/api/clients", json={}, headers=live.bearer(bob))
        otp = r.json()["otp"]
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            assert otp not in str(raw)
    finally:
        await ws.close()


async def test_logout_closes_the_live_connection(live: Live) -> None:
    bob = await live.login("bob", "bob-password")
    ws = await ws_open(live, bob)
    r = await live.http.post("/api/auth/logout", headers=live.bearer(bob))
    assert r.status_code == 204
    err = await next_of(ws, "error", timeout=1.5)
    assert err["error"]["code"] == "unauthenticated"
    try:
        await asyncio.wait_for(ws.recv(), 1.0)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4401


async def test_binary_and_oversized_frames_are_refused(live: Live) -> None:
    ws = await websockets.connect(live.ws_url)
    await ws.send(b"\x00\x01")
    msg = json.loads(await ws.recv())
    assert msg["error"]["code"] == "invalid_input"
    with contextlib.suppress(websockets.ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 4400
    ws = await websockets.connect(live.ws_url, max_size=None)
    with contextlib.suppress(websockets.ConnectionClosed):
        await ws.send("x" * (1024 * 1024))
        await asyncio.wait_for(ws.recv(), 2)
    assert ws.close_code == 1009  # message too big, closed by the transport


async def test_session_refresh_keeps_the_connection(live: Live) -> None:
    bob = await live.login("bob", "bob-password")
    ws = await ws_open(live, bob)
    try:
        device_id = bob["device"]["id"]
        ch = (await live.http.post("/api/auth/challenge", json={"device_id": device_id})).json()
        sig = devicekeys.sign(
            bob["_key"], devicekeys.challenge_message("srv-test", device_id, ch["challenge"])
        )
        r = await live.http.post(
            "/api/auth/device",
            json={"device_id": device_id, "challenge": ch["challenge"], "signature": sig},
        )
        new_token = r.json()["session"]["token"]
        await ws.send(json.dumps({"type": "auth", "token": new_token}))
        hello = await next_of(ws, "hello")
        assert hello["device"]["id"] == device_id
        # One formatter of instants: the live hello writes them as the REST API does.
        assert hello["session"]["expires_at"] == r.json()["session"]["expires_at"]
        assert hello["session"]["expires_at"].endswith("Z")
        await live.http.post("/api/auth/logout", headers=live.bearer(bob))  # the old session
        await live.hub.recheck()  # what the supervisor does every half second
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_of(ws, "pong"))["type"] == "pong"
    finally:
        await ws.close()


async def test_openapi_documents_our_error_body(live: Live) -> None:
    doc = (await live.http.get("/api/openapi.json")).json()
    otp = doc["paths"]["/api/auth/otp"]["post"]["responses"]
    ref = otp["422"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ErrorBody")
    assert "429" in otp and "401" in otp
