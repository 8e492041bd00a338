"""Ways in found by review, each tried and refused."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import pytest

from domogate.core import devicekeys
from domogate.errors import Conflict, InvalidCredentials, OtpInvalid, RateLimited, Revoked
from domogate.services.context import RequestContext
from tests.support.services_env import SERVICE_PASSWORD, Env, make_env, project_data


async def test_redemption_cannot_undo_a_revocation(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    user = await env.store.get_user(issued.client.id)
    assert user is not None
    pending = next(o for o in await env.store.pending_otps() if o.user_id == user.id)
    # The revocation lands between the redemption's read and its write.
    await env.store.revoke_user(user.id, env.clock.now())
    key = devicekeys.generate_private_key()
    from domogate.core.accounts import Device

    device = Device("dev-x", user.id, "phone", devicekeys.public_key_of(key), env.clock.now())
    stale = replace(user, name="Mallory")
    assert not await env.store.redeem_otp(pending.id, env.clock.now(), stale, device)
    after = await env.store.get_user(user.id)
    assert after is not None and after.revoked_at is not None and after.name is None
    assert await env.store.list_devices(user.id) == []


async def test_revoked_slot_otp_cannot_be_redeemed(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    await env.clients.revoke_user(admin, issued.client.id)
    with pytest.raises((OtpInvalid, Revoked)):
        await env.redeem(issued.otp)


async def test_deploy_never_merges_a_client_into_a_project_user(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1", group="guests")
    await env.redeem(issued.otp, name="carol")
    data = project_data()
    data["users"].append({"name": "Carol", "group": "family", "admin": True})
    with pytest.raises(Conflict, match="Carol"):
        await env.services.deploy.deploy(RequestContext("i"), data, password=SERVICE_PASSWORD)
    carol = await env.store.find_user_by_name("carol")
    assert carol is not None and not carol.admin and carol.group == "guests"
    assert env.services.project.version == 1


async def test_parallel_password_guesses_cannot_pass_the_account_limit(env: Env) -> None:
    # Spend 9 of the 10 attempts the account has.
    for i in range(9):
        with pytest.raises(InvalidCredentials):
            await env.login("alice", "wrong", source=f"10.2.0.{i}")
    results = await asyncio.gather(
        *(env.login("alice", "wrong", source=f"10.3.0.{i}") for i in range(20)),
        return_exceptions=True,
    )
    evaluated = [r for r in results if isinstance(r, InvalidCredentials)]
    limited = [r for r in results if isinstance(r, RateLimited)]
    assert len(evaluated) == 1 and len(limited) == 19
    # and the right password is not checked either while the account is throttled
    with pytest.raises(RateLimited):
        await env.login("alice", "correct horse battery staple", source="10.4.0.1")


async def test_a_success_does_not_count_against_the_account(env: Env) -> None:
    from tests.support.services_env import ADMIN_PASSWORD

    for i in range(30):
        await env.login("alice", ADMIN_PASSWORD, source=f"10.5.0.{i}")


async def test_live_challenges_are_bounded(env: Env) -> None:
    from domogate.services import auth as auth_module

    auth = env.services.auth
    for i in range(3000):
        await auth.challenge(RequestContext(f"10.6.{i // 250}.{i % 250}"), "dev")
    assert len(auth._challenges) == 3000
    env.clock.advance(61)
    await auth.challenge(RequestContext("10.7.0.1"), "dev")
    assert len(auth._challenges) == 1  # expired ones left from the front
    assert auth_module.MAX_LIVE_CHALLENGES <= 50_000


async def test_concurrent_deploys_get_distinct_versions(tmp_path: Path) -> None:
    env = await make_env(tmp_path)
    try:
        a = project_data()
        a["name"] = "A"
        b = project_data()
        b["name"] = "B"
        ra, rb = await asyncio.gather(
            env.services.deploy.deploy(RequestContext("x"), a, password=SERVICE_PASSWORD),
            env.services.deploy.deploy(RequestContext("y"), b, password=SERVICE_PASSWORD),
        )
        assert sorted([ra.version, rb.version]) == [2, 3]
        current = await env.store.current_project()
        assert current is not None and current.version == 3
        last = ra if ra.version == 3 else rb
        assert current.data["name"] == last.name
    finally:
        with contextlib.suppress(Exception):
            await env.services.close()


def test_ipv6_sources_are_throttled_by_their_64_prefix() -> None:
    from domogate.core.throttle import source_key

    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:ffff::9")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key("testclient") == "testclient"
