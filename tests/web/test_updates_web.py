"""Published versions on the web: the live ``update`` message to admins (on change and in
an admin's first messages), the maintenance page's ``update`` and ``POST
/api/maintenance/update`` (a maintenance session; 404 when nothing waits). Real HTTP and
WebSocket on 127.0.0.1; the cloud link is the in-memory stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core.project import project_to_data
from tests.support.live import Live, next_of, start_live, ws_open
from tests.support.memorylink import MemoryLink
from tests.support.publishing import key_text, published
from tests.support.services_env import SERVICE_PASSWORD, make_env, project_data

CLOUD = {"enabled": True, "address": "127.0.0.1:7443", "password": "cloud-pw"}
INTEGRATOR = Ed25519PrivateKey.generate()


@pytest.fixture
def link() -> MemoryLink:
    return MemoryLink()


@pytest.fixture
async def live(tmp_path: Path, link: MemoryLink) -> AsyncIterator[Live]:
    env = await make_env(tmp_path, cloud_link=link, cloud=CLOUD, automatic_server_update=False)
    await env.store.set_meta("publisher_key", key_text(INTEGRATOR))
    server, task, url, hub = await start_live(env)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Live(env, url, http, hub)
    server.should_exit = True
    await task
    await env.services.close()


def _version(live: Live, link: MemoryLink, version: int, **changes: Any) -> None:
    """The deployed project (the same password hashes: sessions stay) with ``changes``."""
    current = live.env.services.project.current
    assert current is not None
    data = {**project_to_data(current.project), **changes}
    link.held[version] = published(data, version, INTEGRATOR, link.name)


async def _messages_until(ws: Any, kinds: set[str], timeout: float = 3.0) -> dict[str, Any]:
    """The last message of each type received until every type of ``kinds`` was seen."""
    seen: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while not kinds <= set(seen):
            message = json.loads(await ws.recv())
            seen[message["type"]] = message
    return seen


async def _maintenance(live: Live) -> dict[str, str]:
    r = await live.http.post("/api/maintenance/session", json={"password": SERVICE_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_admins_are_told_live_and_the_maintenance_page_applies_it(
    live: Live, link: MemoryLink
) -> None:
    admin = await ws_open(live, await live.login())
    guest = await ws_open(live, await live.login("bob", "bob-password"))
    try:
        _version(live, link, 1, name="Version two")
        link.tell(1)
        update = await next_of(admin, "update")
        assert update == {
            "type": "update",
            "available": 1,
            "published_at": "2026-01-01T00:00:00Z",
            "refused": None,
        }
        # an admin connecting now learns it in the first messages after hello
        late = await ws_open(live, await live.login())
        assert (await next_of(late, "update"))["available"] == 1
        await late.close()

        headers = await _maintenance(live)
        body = (await live.http.get("/api/maintenance", headers=headers)).json()
        assert body["update"]["available"] == 1
        assert live.env.services.project.version == 1  # nothing applied meanwhile

        r = await live.http.post("/api/maintenance/update", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"version": 2, "name": "Version two"}
        seen = await _messages_until(admin, {"project", "update"})
        assert seen["project"]["version"] == 2 and seen["update"]["available"] is None
        seen = await _messages_until(guest, {"project", "states"})
        assert seen["project"]["version"] == 2
        assert "update" not in seen  # the guest is never told of updates
        assert (await live.http.post("/api/maintenance/update", headers=headers)).status_code == 404
    finally:
        await admin.close()
        await guest.close()


async def test_the_apply_route_needs_a_maintenance_session(live: Live, link: MemoryLink) -> None:
    _version(live, link, 1)
    link.tell(1)
    await live.env.services.updates.settled()
    r = await live.http.post("/api/maintenance/update")
    assert r.status_code == 401
    user = await live.login()
    r = await live.http.post("/api/maintenance/update", headers=live.bearer(user))
    assert r.status_code == 401  # a user's session is not a maintenance session
    assert live.env.services.project.version == 1


async def test_a_refused_version_is_shown_to_admins(live: Live, link: MemoryLink) -> None:
    admin = await ws_open(live, await live.login())
    try:
        data = project_data(cloud=CLOUD)
        link.held[1] = published(data, 1, Ed25519PrivateKey.generate(), link.name)
        link.tell(1)
        headers = await _maintenance(live)
        r = await live.http.post("/api/maintenance/update", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "signature_invalid"
        update = await next_of(admin, "update")
        while update["refused"] is None:
            update = await next_of(admin, "update")
        assert update["available"] is None
        assert update["refused"]["version"] == 1
        assert update["refused"]["code"] == "signature_invalid"
        body = (await live.http.get("/api/maintenance", headers=headers)).json()
        assert body["update"]["refused"]["code"] == "signature_invalid"
        assert live.env.services.project.version == 1
    finally:
        await admin.close()


async def test_nothing_to_apply_is_404(live: Live) -> None:
    headers = await _maintenance(live)
    r = await live.http.post("/api/maintenance/update", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
