"""``POST /api/deploy`` pins the publisher key under the deploy's own authorisation
(``docs/cloud-publish.md``, "Pinning the publisher key"), over a real uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import cloudwire
from domogate.core.publishing import key_fingerprint
from tests.support.deploy_auth import deploy_headers
from tests.support.live import Live, start_live
from tests.support.memorylink import MemoryLink
from tests.support.services_env import SERVICE_PASSWORD, make_env, project_data


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[Live]:
    """A server with nothing deployed (its setup code authorises the first deploy), with a
    cloud link adapter: it has a cloud name."""
    env = await make_env(tmp_path, deploy=False, cloud_link=MemoryLink())
    server, task, url, hub = await start_live(env)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Live(env, url, http, hub)
    server.should_exit = True
    await task
    await env.services.close()


def new_key() -> tuple[str, str]:
    """(text, fingerprint) of a fresh integrator key."""
    public = Ed25519PrivateKey.generate().public_key()
    return cloudwire.public_key_text(public), key_fingerprint(public)


async def deploy(live: Live, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await live.http.post(
        "/api/deploy", json={"project": project_data(), **body}, headers=headers
    )


async def pinned(live: Live) -> str | None:
    return await live.env.store.get_meta("publisher_key")


async def pin_events(live: Live) -> list[dict[str, Any]]:
    events = await live.env.services.audit.list()
    return [e.details for e in events if e.action == "publisher_key.pin"]


async def test_first_deploy_pins_a_later_one_replaces_and_audits(fresh: Live) -> None:
    first, first_fp = new_key()
    r = await deploy(fresh, deploy_headers(setup_code=fresh.env.setup.code), publisher_key=first)
    assert r.status_code == 200, r.text
    assert r.json()["installation"] == "abcdefghijklmnop"
    assert await pinned(fresh) == first
    assert [(e["old_fingerprint"], e["new_fingerprint"]) for e in await pin_events(fresh)] == [
        (None, first_fp)
    ]

    # The same key again: nothing to audit.
    r = await deploy(fresh, deploy_headers(password=SERVICE_PASSWORD), publisher_key=first)
    assert r.status_code == 200, r.text
    assert len(await pin_events(fresh)) == 1

    second, second_fp = new_key()
    r = await deploy(fresh, deploy_headers(password=SERVICE_PASSWORD), publisher_key=second)
    assert r.status_code == 200, r.text
    assert await pinned(fresh) == second
    last = (await pin_events(fresh))[0]  # newest first
    assert (last["old_fingerprint"], last["new_fingerprint"]) == (first_fp, second_fp)
    assert last["version"] == 3


async def test_a_deploy_without_the_key_keeps_the_pin(fresh: Live) -> None:
    key, _ = new_key()
    r = await deploy(fresh, deploy_headers(setup_code=fresh.env.setup.code), publisher_key=key)
    assert r.status_code == 200, r.text
    r = await deploy(fresh, deploy_headers(password=SERVICE_PASSWORD))
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert await pinned(fresh) == key


async def test_an_unauthorised_or_failed_deploy_pins_nothing(fresh: Live) -> None:
    key, _ = new_key()
    r = await deploy(fresh, deploy_headers(setup_code="ZZZZ-ZZZZ-ZZZZ"), publisher_key=key)
    assert r.status_code == 401, r.text
    assert await pinned(fresh) is None

    r = await deploy(fresh, deploy_headers(setup_code=fresh.env.setup.code), publisher_key=key)
    assert r.status_code == 200, r.text
    other, _ = new_key()
    r = await deploy(fresh, deploy_headers(password="not-the-password"), publisher_key=other)
    assert r.status_code == 401, r.text
    # An authorised deploy of an invalid project pins nothing either: all or nothing.
    bad = project_data()
    bad["groups"] = "not a list"
    r = await fresh.http.post(
        "/api/deploy",
        json={"project": bad, "publisher_key": other},
        headers=deploy_headers(password=SERVICE_PASSWORD),
    )
    assert r.status_code == 422, r.text
    assert await pinned(fresh) == key
    assert len(await pin_events(fresh)) == 1


async def test_a_malformed_key_is_refused_and_changes_nothing(fresh: Live) -> None:
    r = await deploy(
        fresh, deploy_headers(setup_code=fresh.env.setup.code), publisher_key="not-a-key"
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert "publisher_key" in r.json()["error"]["message"]
    assert await pinned(fresh) is None
    assert fresh.env.services.project.version is None  # nothing deployed either
