"""The join links the clients service makes: the cloud form when the user may use the cloud,
the policy uses it and the link is up; the local URL carried is one others can dial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domogate.core import devicekeys, joinlink
from domogate.core.accounts import ConnectionPath
from domogate.services.context import Caller, RequestContext
from tests.support.memorylink import MemoryLink
from tests.support.services_env import (
    ADMIN_PASSWORD,
    SERVICE_PASSWORD,
    Env,
    make_env,
    project_data,
)

CLOUD = {"enabled": True, "address": "127.0.0.1:7443", "password": "cloud-pw"}
CLOUD_URL = "https://abcdefghijklmnop.localhost:7443"

EVERY = "0.0.0.0"  # noqa: S104 - the wildcard, as --host takes it


async def _redeploy(env: Env, server: dict[str, Any] | None = None, **system: Any) -> None:
    data = project_data(**system)
    if server is not None:
        data["server"] = server
    await env.services.deploy.deploy(RequestContext("integrator"), data, password=SERVICE_PASSWORD)
    await env.services.cloud.settled()


async def _linked(tmp_path: Path, policy: str, **settings: Any) -> tuple[Env, Caller]:
    link = MemoryLink()
    env = await make_env(
        tmp_path,
        cloud_link=link,
        server_settings=settings,
        cloud={**CLOUD, "connection_policy": policy},
    )
    await env.services.cloud.settled()
    link.linked()
    return env, await env.admin()


@pytest.mark.parametrize("policy", ["cloud", "local_and_cloud"])
async def test_a_cloud_user_gets_the_cloud_form(tmp_path: Path, policy: str) -> None:
    env, admin = await _linked(tmp_path, policy)
    try:
        issued = await env.clients.add_client(admin, base_url="https://h:7550", name="eve")
        assert issued.join_link.startswith(CLOUD_URL + "/join#")
        parsed = joinlink.parse(issued.join_link)
        assert parsed.prefer_cloud and parsed.base_url == "https://h:7550"
        assert parsed.cloud_url == CLOUD_URL and parsed.cloud_relay == "127.0.0.1:7443"
        # the QR code's link (the same pending OTP) has the same form
        again = await env.clients.join_link_of_pending(admin, issued.client.id, "https://h:7550")
        assert again == issued.join_link
        # a local-only user stays on the local form, without the cloud path
        local = await env.clients.add_client(
            admin, base_url="https://h:7550", name="fay", paths=["local"]
        )
        assert local.join_link.startswith("https://h:7550/join#")
        assert joinlink.parse(local.join_link).cloud_url is None
    finally:
        await env.services.close()


async def test_policy_local_keeps_the_local_form_with_the_cloud_path(tmp_path: Path) -> None:
    env, admin = await _linked(tmp_path, "local")
    try:
        issued = await env.clients.add_client(admin, base_url="https://h:7550", name="eve")
        assert issued.join_link.startswith("https://h:7550/join#")
        parsed = joinlink.parse(issued.join_link)
        assert not parsed.prefer_cloud and parsed.cloud_url == CLOUD_URL
        await _redeploy(env, cloud={**CLOUD, "connection_policy": "local_and_cloud"})
        new = await env.clients.issue_otp(admin, issued.client.id, base_url="https://h:7550")
        assert new.join_link.startswith(CLOUD_URL + "/join#")  # a deploy counts at once
    finally:
        await env.services.close()


async def test_an_admin_on_the_cloud_path_gets_the_servers_local_url(tmp_path: Path) -> None:
    env, _ = await _linked(
        tmp_path, "local_and_cloud", host=EVERY, port=7551, lan_candidates=("10.77.0.2",)
    )
    try:
        ctx = RequestContext("203.0.113.5", path=ConnectionPath.CLOUD)
        key = devicekeys.generate_private_key()
        auth = await env.auth.login_password(
            ctx, "alice", ADMIN_PASSWORD, "away", devicekeys.public_key_of(key)
        )
        away = await env.auth.authenticate(auth.token, ctx)
        # asked on the cloud URL: the link's local URL is the server's, not the cloud's
        for asked in (CLOUD_URL, "https://abcdefghijklmnop.cloud.example"):
            issued = await env.clients.add_client(away, base_url=asked)
            assert joinlink.parse(issued.join_link).base_url == "https://10.77.0.2:7551"
        assert env.services.local_url() == "https://10.77.0.2:7551"
    finally:
        await env.services.close()


async def test_loopback_and_wildcards_become_the_advertised_address(tmp_path: Path) -> None:
    env, admin = await _linked(
        tmp_path, "local", host=EVERY, port=7551, lan_candidates=("127.0.0.1", "10.77.0.2")
    )
    try:
        for asked in ("https://127.0.0.1:7551", f"https://{EVERY}:7551", "https://localhost:7551"):
            issued = await env.clients.add_client(admin, base_url=asked)
            assert issued.join_link.startswith("https://10.77.0.2:7551/join#"), asked
        named = await env.clients.add_client(admin, base_url="https://panel.local:7551")
        assert named.join_link.startswith("https://panel.local:7551/join#")
        # the project's server.address, when not loopback, wins over the LAN address,
        # from the deploy on
        await _redeploy(env, server={"address": "panel.lan"}, cloud=CLOUD)
        assert env.services.advertised().host == "panel.lan"
        issued = await env.clients.add_client(admin, base_url="https://127.0.0.1:7551")
        assert issued.join_link.startswith("https://panel.lan:7551/join#")
        await _redeploy(env, server={"address": "127.0.0.1"}, cloud=CLOUD)
        assert env.services.advertised().host == "10.77.0.2"
    finally:
        await env.services.close()


async def test_a_server_on_loopback_keeps_loopback(tmp_path: Path) -> None:
    env, admin = await _linked(tmp_path, "local", lan_candidates=("10.77.0.2",))
    try:
        issued = await env.clients.add_client(admin, base_url="https://127.0.0.1:7550")
        assert issued.join_link.startswith("https://127.0.0.1:7550/join#")
    finally:
        await env.services.close()
