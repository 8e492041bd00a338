"""The server allows exactly its own origins (web/origins.py): the request's own, its
local ones (listen URL, the project's server.address:port) and its cloud origin while
linked. Any other ``Origin`` is refused 403 ``origin_refused`` (REST and the live
channel's handshake alike); requests without ``Origin`` are unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from domogate.web.origins import content_security_policy, normalise, origin_of
from tests.support.live import Live, start_live
from tests.support.memorylink import MEMORY_CLOUD_URL, MemoryLink
from tests.support.services_env import ADMIN_PASSWORD, make_env

CLOUD = {"enabled": True, "address": "127.0.0.1:7443", "password": "cloud-pw"}
PROJECT_ORIGIN = "https://127.0.0.1:7550"  # the project's default server.address:port
EVIL = "https://evil.example"


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[tuple[Live, MemoryLink]]:
    link = MemoryLink()
    env = await make_env(tmp_path, cloud_link=link, cloud=CLOUD)
    await env.services.cloud.settled()
    link.linked()
    server, task, url, hub = await start_live(env)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Live(env, url, http, hub), link
    server.should_exit = True
    await task
    await env.services.close()


def test_origins_are_compared_in_the_form_browsers_send() -> None:
    assert normalise("HTTPS://Home.Example:443") == "https://home.example"
    assert normalise("https://home.example:8443/") == "https://home.example:8443"
    assert normalise("http://[::1]:80") == "http://[::1]"
    for bad in ("null", "file://", "https://a@home.example", "https://h/x", "ftp://h", "h"):
        assert normalise(bad) is None, bad
    assert origin_of("wss", "Home.Example:8443") == "https://home.example:8443"
    assert origin_of("http", "") is None
    csp = content_security_policy(["https://n.zone:7443"]).decode()
    assert "connect-src 'self' https://n.zone:7443 wss://n.zone:7443;" in csp


async def test_requests_without_origin_are_unchanged(live: Live) -> None:
    r = await live.http.get("/api/info")
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


async def test_the_request_s_own_origin_is_allowed_with_cors_headers(live: Live) -> None:
    r = await live.http.get("/api/info", headers={"Origin": live.url})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == live.url
    assert "Date" in r.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in r.headers


async def test_another_origin_is_refused_before_the_body_is_read(live: Live) -> None:
    for method, path in (("GET", "/api/info"), ("POST", "/api/auth/password"), ("GET", "/")):
        r = await live.http.request(
            method,
            path,
            headers={"Origin": EVIL},
            content=b"x" * 100_000 if method == "POST" else None,
        )
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "origin_refused"
        assert "access-control-allow-origin" not in r.headers
    # The same host on another scheme or port is another origin.
    for other in ("https://127.0.0.1:1", live.url.replace("http://", "https://"), "null"):
        r = await live.http.get("/api/info", headers={"Origin": other})
        assert r.status_code == 403, other


async def test_a_preflight_from_an_own_origin_is_answered_and_another_refused(
    live: Live,
) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    r = await live.http.options("/api/auth/device", headers={"Origin": PROJECT_ORIGIN, **ask})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == PROJECT_ORIGIN
    assert "Authorization" in r.headers["access-control-allow-headers"]
    assert "Content-Type" in r.headers["access-control-allow-headers"]
    assert "POST" in r.headers["access-control-allow-methods"]
    r = await live.http.options("/api/auth/device", headers={"Origin": EVIL, **ask})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "origin_refused"


async def test_the_cloud_origin_is_allowed_while_linked_and_listed_in_the_csp(
    linked: tuple[Live, MemoryLink],
) -> None:
    live, link = linked
    r = await live.http.post(
        "/api/auth/password",
        headers={"Origin": MEMORY_CLOUD_URL},
        json={
            "username": "alice",
            "password": ADMIN_PASSWORD,
            "device": {"name": "x", "public_key": "y"},
        },
    )
    assert r.status_code != 403 and r.headers["access-control-allow-origin"] == MEMORY_CLOUD_URL
    page = await live.http.get("/")
    connect = page.headers["content-security-policy"].split("connect-src")[1].split(";")[0]
    wss = MEMORY_CLOUD_URL.replace("https://", "wss://")
    assert MEMORY_CLOUD_URL in connect.split() and wss in connect.split()
    assert PROJECT_ORIGIN in connect.split()

    link.down()
    r = await live.http.get("/api/info", headers={"Origin": MEMORY_CLOUD_URL})
    assert r.status_code == 403, "the cloud origin is own only while linked"
    page = await live.http.get("/")
    assert MEMORY_CLOUD_URL not in page.headers["content-security-policy"]


async def test_the_live_channel_refuses_the_upgrade_from_another_origin(live: Live) -> None:
    auth = await live.login()
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(live.ws_url, origin=EVIL)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"]["code"] == "origin_refused"
    assert not live.hub.connections

    for own in (live.url, PROJECT_ORIGIN):
        async with websockets.connect(live.ws_url, origin=own) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "auth", "token": auth["session"]["token"]}))
            assert json.loads(await ws.recv())["type"] == "hello"
    async with websockets.connect(live.ws_url) as ws:  # no Origin: a Python client
        await ws.send(json.dumps({"type": "auth", "token": auth["session"]["token"]}))
        assert json.loads(await ws.recv())["type"] == "hello"


async def test_the_advertised_lan_origin_is_own_when_listening_on_every_address(
    tmp_path: Path,
) -> None:
    """A page loaded from the LAN address a join link carries (``--host 0.0.0.0``) may
    use the API from there (and, through the relay, from the cloud origin)."""
    every = "0.0.0.0"  # noqa: S104 - what --host says
    env = await make_env(
        tmp_path, server_settings={"host": every, "lan_candidates": ("10.77.0.2",)}
    )
    server, task, url, _ = await start_live(env)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            lan = f"https://10.77.0.2:{env.services.settings.port}"
            r = await http.get("/api/info", headers={"Origin": lan})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == lan
            r = await http.get("/api/info", headers={"Origin": "https://10.77.0.3:7550"})
            assert r.status_code == 403
    finally:
        server.should_exit = True
        await task
        await env.services.close()


async def test_a_flood_of_foreign_origins_costs_one_log_line(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="domogate.web.origins"):
        for _ in range(50):
            r = await live.http.get("/api/info", headers={"Origin": EVIL})
            assert r.status_code == 403
    lines = [rec for rec in caplog.records if "refused" in rec.getMessage()]
    assert len(lines) == 1, [rec.getMessage() for rec in lines]
