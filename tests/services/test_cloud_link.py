"""The cloud link as a use case: it follows the deployed project, publishes its state,
and the join link carries the cloud path when the user may use it and the link is up.
The link adapter is an in-memory stand-in (the real one, against a real cloud, is in
``tests/e2e/test_cloud_link.py``)."""

from __future__ import annotations

from pathlib import Path

from domogate.core import joinlink
from domogate.services.context import RequestContext
from domogate.services.events import CloudLinkChanged, Event
from tests.support.memorylink import MemoryLink
from tests.support.services_env import SERVICE_PASSWORD, make_env, project_data

CLOUD = {"enabled": True, "address": "127.0.0.1:7443", "password": "cloud-pw"}


async def _redeploy(env, **system) -> None:  # type: ignore[no-untyped-def]
    await env.services.deploy.deploy(
        RequestContext("integrator"), project_data(**system), password=SERVICE_PASSWORD
    )
    await env.services.cloud.settled()


async def test_the_link_follows_the_deployed_project(tmp_path: Path) -> None:
    link = MemoryLink()
    env = await make_env(tmp_path, cloud_link=link, cloud=CLOUD)
    events: list[Event] = []
    env.services.events.subscribe(events.append)
    try:
        await env.services.cloud.settled()
        assert [t.address for t in link.started] == ["127.0.0.1:7443"]
        assert "cloud-pw" not in repr(link.started[0])
        link.linked()
        assert env.services.cloud.url == "https://abcdefghijklmnop.localhost:7443"
        assert any(isinstance(e, CloudLinkChanged) for e in events)

        await _redeploy(env, cloud={**CLOUD, "address": "127.0.0.2"})
        assert link.stopped == 1 and link.started[-1].address == "127.0.0.2"

        await _redeploy(env, cloud={**CLOUD, "enabled": False})
        assert link.stopped == 2
        assert env.services.cloud.state.status == "disabled"
        assert env.services.cloud.url is None
    finally:
        await env.services.close()


async def test_the_join_link_carries_the_cloud_path_for_cloud_users(tmp_path: Path) -> None:
    link = MemoryLink()
    env = await make_env(tmp_path, cloud_link=link, cloud=CLOUD)
    try:
        await env.services.cloud.settled()
        admin = await env.admin()
        before = await env.clients.add_client(admin, base_url="https://h:7550", name="dan")
        assert joinlink.parse(before.join_link).cloud_url is None  # not linked yet
        link.linked()
        both = await env.clients.add_client(admin, base_url="https://h:7550", name="eve")
        parsed = joinlink.parse(both.join_link)
        assert parsed.cloud_url == "https://abcdefghijklmnop.localhost:7443"
        assert parsed.cloud_relay == "127.0.0.1:7443"
        local = await env.clients.add_client(
            admin, base_url="https://h:7550", name="fay", paths=["local"]
        )
        assert joinlink.parse(local.join_link).cloud_url is None
    finally:
        await env.services.close()
