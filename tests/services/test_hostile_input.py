"""Hostile input at the service level, where an interleaving can be forced or the real
limits reached quickly with a fake clock (the attacks against a real server process are in
tests/e2e/test_attack_*.py)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import pytest

from domogate.core import devicekeys
from domogate.core.names import name_key
from domogate.errors import (
    Conflict,
    InvalidCredentials,
    OtpInvalid,
    RateLimited,
    Revoked,
    SignatureInvalid,
)
from domogate.services import auth as auth_module
from domogate.services.context import RequestContext
from tests.support.services_env import ADMIN_PASSWORD, SERVICE_PASSWORD, Env, project_data


def test_look_alike_names_have_one_key() -> None:
    spellings = ("admin", "ＡＤＭＩＮ", "ａdmin", " ad min ", "ad\u200bmin")
    assert len({name_key(n) for n in spellings}) == 1
    assert name_key("Zoé") == name_key("ZOÉ") == name_key("Zoe\u0301")
    assert name_key("alice") != name_key("alicia")


async def test_full_width_spelling_shares_the_accounts_failure_limit(env: Env) -> None:
    """`ａdmin` used to get a fresh allowance of failures while checking the real password."""
    key = devicekeys.public_key_of(devicekeys.generate_private_key())
    spellings = ["alice", "ＡＬＩＣＥ", "ａlice", "al ice", "ALICE"]
    refused = 0
    for i in range(30):
        try:
            await env.auth.login_password(
                RequestContext(f"198.18.{i}.1"), spellings[i % 5], "wrong", "d", key
            )
        except InvalidCredentials:
            pass
        except RateLimited:
            refused += 1
    assert refused == 20  # the account allows 10 failures, whatever the spelling


async def test_password_attempts_are_limited_per_source(env: Env) -> None:
    """One address trying a new name each time never meets an account's limit; its own
    limit (10, then 1 every 6 s) stops it, even with the right password, and only it."""
    key = devicekeys.public_key_of(devicekeys.generate_private_key())
    flooder = RequestContext("198.51.100.7")
    outcomes = []
    for i in range(12):
        try:
            await env.auth.login_password(flooder, f"nobody-{i}", "wrong", "d", key)
        except InvalidCredentials:
            outcomes.append("invalid")
        except RateLimited:
            outcomes.append("limited")
    assert outcomes == ["invalid"] * 10 + ["limited"] * 2
    with pytest.raises(RateLimited):
        await env.auth.login_password(flooder, "alice", ADMIN_PASSWORD, "d", key)
    # another address is not affected
    await env.auth.login_password(RequestContext("198.51.100.8"), "alice", ADMIN_PASSWORD, "d", key)
    env.clock.advance(6)
    with pytest.raises(InvalidCredentials):
        await env.auth.login_password(flooder, "nobody-again", "wrong", "d", key)
    with pytest.raises(RateLimited):
        await env.auth.login_password(flooder, "nobody-more", "wrong", "d", key)


async def test_a_look_alike_of_an_existing_name_is_refused(env: Env) -> None:
    admin = await env.admin()
    for look_alike in ("ＡＬＩＣＥ", "a lice", "Bob"):
        with pytest.raises(Conflict):
            await env.clients.add_client(admin, base_url="https://h:1", name=look_alike)
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    with pytest.raises(Conflict):
        await env.redeem(issued.otp, name="ａｌｉｃｅ")


async def test_the_pending_otp_cap_is_enforced(env: Env) -> None:
    admin = await env.admin()
    first = None
    for _ in range(env.services.settings.max_pending_otps):
        issued = await env.clients.add_client(admin, base_url="https://h:1")
        first = first or issued
    with pytest.raises(Conflict, match="already pending"):
        await env.clients.add_client(admin, base_url="https://h:1")
    assert first is not None
    # A new OTP for a pending user replaces theirs: no room needed.
    await env.clients.issue_otp(admin, first.client.id, base_url="https://h:1")
    # Once one is used, there is room again.
    await env.redeem((await env.clients.issue_otp(admin, first.client.id, base_url="x")).otp)
    await env.clients.add_client(admin, base_url="https://h:1")


async def test_malformed_guesses_do_not_spend_the_global_otp_budget(env: Env) -> None:
    for i in range(200):
        with contextlib.suppress(OtpInvalid, RateLimited):
            await env.auth.redeem_otp(RequestContext(f"198.19.{i}.1"), "nope", "x", "d", "k")
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    auth, _ = await env.redeem(issued.otp, name="Newcomer", source="192.0.2.77")
    assert auth.user.name == "Newcomer"


async def test_flooding_sources_cannot_starve_a_newcomer(env: Env) -> None:
    """Forty addresses guess as fast as they are let; newcomers keep getting through on the
    reserve kept for sources without failures (with 8, 17 of 20 were refused before)."""
    admin = await env.admin()
    flooders = [f"203.0.113.{i}" for i in range(40)]
    for src in flooders:  # they start one after the other, so their refills interleave
        for _ in range(11):
            with contextlib.suppress(OtpInvalid, RateLimited):
                await env.auth.redeem_otp(RequestContext(src), "ACDEFGHJKL", "x", "d", "k")
        env.clock.advance(0.15)
    # Each fresh address may spend the reserve once; the flood goes on for a minute first.
    refused_newcomers = 0
    for round_ in range(-10, 20):
        for _ in range(30):  # the shared budget is kept empty
            for src in flooders:
                with contextlib.suppress(OtpInvalid, RateLimited):
                    await env.auth.redeem_otp(RequestContext(src), "ACDEFGHJKL", "x", "d", "k")
            env.clock.advance(0.2)
        if round_ < 0:
            continue
        issued = await env.clients.add_client(admin, base_url="https://h:1")
        try:
            await env.redeem(issued.otp, name=f"New {round_}", source=f"192.0.2.{round_}")
        except RateLimited:
            refused_newcomers += 1
    assert refused_newcomers == 0


async def test_a_session_of_a_device_revoked_during_its_sign_in_is_refused(env: Env) -> None:
    """Force the interleaving: the password login has created the device, the admin revokes
    it before the login opens the session. The session exists but is refused at once."""
    admin = await env.admin()
    store = env.store
    original_add = store.add_device
    revoked = asyncio.Event()

    async def add_then_revoke(device):  # type: ignore[no-untyped-def]
        await original_add(device)
        await store.revoke_devices([device.id], env.clock.now())
        revoked.set()

    store.add_device = add_then_revoke  # type: ignore[method-assign]
    try:
        auth = await env.login("bob", "bob-password")
    finally:
        store.add_device = original_add  # type: ignore[method-assign]
    assert revoked.is_set()
    with pytest.raises(Revoked):
        await env.auth.authenticate(auth.token, RequestContext("10.0.0.1"))
    assert admin.user.admin


async def test_live_challenges_reach_their_cap(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap itself, reached: with it at 500, the 501st challenge drops the oldest."""
    monkeypatch.setattr(auth_module, "MAX_LIVE_CHALLENGES", 500)
    first = None
    for i in range(600):
        issued = await env.auth.challenge(RequestContext(f"10.8.{i // 250}.{i % 250}"), "dev")
        first = first or issued
    assert len(env.auth._challenges) == 500
    assert first is not None and first.challenge not in env.auth._challenges


async def test_failed_device_sign_ins_are_throttled_per_source_and_aggregated(env: Env) -> None:
    auth, key = await env.redeem(
        (await env.clients.add_client(await env.admin(), base_url="h")).otp
    )
    device_id = auth.device.id
    ctx = RequestContext("198.51.100.9")
    outcomes: list[str] = []
    for _ in range(60):
        ch = await env.auth.challenge(ctx, device_id)
        try:
            await env.auth.sign_in_device(ctx, device_id, ch.challenge, "AAAA")
        except SignatureInvalid:
            outcomes.append("invalid")
        except RateLimited:
            outcomes.append("limited")
    assert outcomes.count("invalid") == 20 and outcomes.count("limited") == 40
    # The owner's valid signature from that same address still gets in.
    ch = await env.auth.challenge(ctx, device_id)
    sig = devicekeys.sign(key, devicekeys.challenge_message("srv-test", device_id, ch.challenge))
    assert (await env.auth.sign_in_device(ctx, device_id, ch.challenge, sig)).device.id == device_id
    env.clock.advance(61)
    await env.services.audit.close()
    rows = [e for e in await env.services.audit.list(limit=1000) if e.action == "sign_in.device"]
    failures = [e for e in rows if e.outcome != "ok"]
    assert len(failures) <= 4, [(e.outcome, e.details) for e in failures]
    assert sum(int(e.details.get("repeated", 1)) for e in failures) == 60
    since = [str(e.details["since"]) for e in failures if "repeated" in e.details]
    assert since and all(s.endswith("Z") and "+00:00" not in s for s in since)  # core.times.iso


async def test_a_redeploy_keeps_admin_flags_decided_on_the_server(env: Env) -> None:
    from domogate.services.deploy import set_admin

    await set_admin(env.store, "bob", True)
    await set_admin(env.store, "alice", False)
    result = await env.services.deploy.deploy(
        RequestContext("integrator"), project_data(), password=SERVICE_PASSWORD
    )
    assert sorted(result.admin_differs) == ["alice", "bob"]
    users = {u.name: u for u in await env.store.list_users()}
    assert users["bob"].admin and not users["alice"].admin
    # A user the deploy creates takes the project's flag.
    data = project_data()
    data["users"].append(replace_user(data["users"][0], name="carol"))
    await env.services.deploy.deploy(RequestContext("integrator"), data, password=SERVICE_PASSWORD)
    carol = await env.store.find_user_by_name("carol")
    assert carol is not None and carol.admin
    _ = ADMIN_PASSWORD


def replace_user(user: dict, **changes: object) -> dict:  # type: ignore[type-arg]
    return {**user, **changes}


_ = replace


async def test_a_name_typed_by_a_stranger_is_stored_clean(env: Env) -> None:
    hostile = "\x1b[31mEvil\u202e\u200b  Name\x00" + "x" * 500
    with contextlib.suppress(OtpInvalid):
        await env.auth.redeem_otp(RequestContext("198.51.100.50"), "ACDEFACDEF", hostile, "d", "k")
    events = [e for e in await env.services.audit.list(limit=10) if e.action == "otp.redeem"]
    assert events, "the failure is audited"
    stored = events[0].actor_name
    assert stored is not None and stored.startswith("[31mEvil Name")
    assert len(stored) == 64
    assert all(c.isprintable() for c in stored)


async def test_audit_retention_drops_old_and_excess_events(env: Env) -> None:
    for i in range(30):
        await env.services.audit.record("test.event", "ok", RequestContext("x"), n=i)
    await env.services.audit.flush()
    env.clock.advance(400 * 86400)
    for i in range(5):
        await env.services.audit.record("test.event", "ok", RequestContext("x"), n=100 + i)
    from datetime import timedelta

    # By age: the 30 events of 400 days ago go (and the older sign-in rows of the fixture).
    deleted = await env.services.audit.prune(timedelta(days=365), max_events=1_000)
    remaining = [e for e in await env.services.audit.list(limit=1000)]
    assert [e.details["n"] for e in remaining] == [104, 103, 102, 101, 100]
    assert deleted >= 30
    # By count: only the newest ones are kept.
    await env.services.audit.prune(timedelta(days=365), max_events=3)
    remaining = [e for e in await env.services.audit.list(limit=1000)]
    assert [e.details["n"] for e in remaining] == [104, 103, 102]


async def test_a_grant_of_the_old_service_password_dies_with_a_rotation(env: Env) -> None:
    """A deploy authorised with a leaked password, its body held back while the owner
    rotates the password: the old grant applies nothing."""
    from domogate.security.passwords import Passwords
    from tests.support.services_env import CHEAP

    ctx = RequestContext("203.0.113.66")
    stale = await env.services.deploy.authorise(ctx, setup_code=None, password=SERVICE_PASSWORD)
    rotated = project_data()
    rotated["system"]["password"] = Passwords(CHEAP).hash("a new service password")
    await env.services.deploy.deploy(
        RequestContext("integrator"), rotated, password=SERVICE_PASSWORD
    )
    pwned = project_data()
    pwned["name"] = "Pwned"
    with pytest.raises(InvalidCredentials, match="changed"):
        await env.services.deploy.apply(ctx, stale, pwned)
    assert env.services.project.project is not None
    assert env.services.project.project.name == "Test house"
    # A grant of the current password still applies.
    fresh = await env.services.deploy.authorise(
        ctx, setup_code=None, password="a new service password"
    )
    assert (await env.services.deploy.apply(ctx, fresh, rotated)).version == 3


async def test_a_redeploy_still_sets_flags_the_server_never_decided(env: Env) -> None:
    """bob was made admin by the project; the integrator removes the flag (bob left): with
    no decision on the server, the project's change applies."""
    data = project_data()
    data["users"][1]["admin"] = True
    await env.services.deploy.deploy(RequestContext("i"), data, password=SERVICE_PASSWORD)
    bob = await env.store.find_user_by_name("bob")
    assert bob is not None and bob.admin
    data = project_data()
    result = await env.services.deploy.deploy(RequestContext("i"), data, password=SERVICE_PASSWORD)
    bob = await env.store.find_user_by_name("bob")
    assert bob is not None and not bob.admin
    assert "bob" in result.users_updated and result.admin_differs == []


async def test_a_revoked_devices_key_is_never_enrolled_again(env: Env) -> None:
    admin = await env.admin()
    key = devicekeys.generate_private_key()
    public = devicekeys.public_key_of(key)
    ctx = RequestContext("10.0.0.9")
    auth = await env.auth.login_password(ctx, "bob", "bob-password", "laptop", public)
    await env.clients.revoke_device(admin, auth.user.id, auth.device.id)
    with pytest.raises(Revoked, match="new key"):
        await env.auth.login_password(ctx, "bob", "bob-password", "laptop", public)
    fresh = devicekeys.public_key_of(devicekeys.generate_private_key())
    again = await env.auth.login_password(ctx, "bob", "bob-password", "laptop", fresh)
    assert again.device.id != auth.device.id


async def test_a_deployed_project_with_a_malformed_password_hash_is_invalid(env: Env) -> None:
    """The hash-format check moved out of core (argon2 at the edge) still runs on deploys."""
    from domogate.errors import ProjectInvalid

    data = project_data()
    data["users"][0]["password"] = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
    with pytest.raises(ProjectInvalid) as info:
        await env.services.deploy.deploy(RequestContext("i"), data, password=SERVICE_PASSWORD)
    assert "users[0].password" in str(info.value.details), info.value.details
