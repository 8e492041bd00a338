"""services/auth.py: sign-in by password, OTP and device key, challenges, sessions, and
whether a live session may continue (pushed to its holder)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from domogate.core import devicekeys
from domogate.errors import (
    AccountExpired,
    AutomaticAuthenticationDisabled,
    ChallengeInvalid,
    DomogateError,
    InvalidCredentials,
    RateLimited,
    Revoked,
    SignatureInvalid,
    Unauthenticated,
)
from domogate.services.context import Caller, RequestContext
from domogate.services.events import DevicesRevoked
from domogate.services.watch import WatchRegistry
from tests.support.fakes import FakeClock
from tests.support.services_env import ADMIN_PASSWORD, Env, make_env

# Device sign-in (challenge, signature), sessions, account expiry.


async def sign_in(env: Env, device_id: str, key, source: str = "10.0.0.3"):  # type: ignore[no-untyped-def]
    ctx = RequestContext(source)
    ch = await env.auth.challenge(ctx, device_id)
    sig = devicekeys.sign(key, devicekeys.challenge_message("srv-test", device_id, ch.challenge))
    return await env.auth.sign_in_device(ctx, device_id, ch.challenge, sig)


async def test_password_errors_do_not_reveal_which_part(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domogate.security.passwords import Passwords

    verified: list[str | None] = []
    real_verify = Passwords.verify

    def counting_verify(self: Passwords, password_hash: str | None, password: str) -> bool:
        verified.append(password_hash)
        return real_verify(self, password_hash, password)

    monkeypatch.setattr(Passwords, "verify", counting_verify)
    with pytest.raises(InvalidCredentials) as unknown:
        await env.login("nobody", "x")
    # An unknown user costs one Argon2 verification too (against the dummy hash).
    assert verified == [None]
    with pytest.raises(InvalidCredentials) as wrong:
        await env.login("alice", "wrong")
    assert len(verified) == 2 and verified[1] is not None
    assert unknown.value.message == wrong.value.message
    assert unknown.value.code == wrong.value.code


async def test_device_sign_in_and_revocation(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    auth, key = await env.redeem(issued.otp)
    other = await env.clients.issue_otp(admin, auth.user.id, base_url="https://h:1")
    auth2, key2 = await env.redeem(other.otp)
    again = await sign_in(env, auth.device.id, key)
    assert again.user.id == auth.user.id

    revoked: list[DevicesRevoked] = []
    env.services.events.subscribe(
        lambda e: revoked.append(e) if isinstance(e, DevicesRevoked) else None
    )
    await env.clients.revoke_device(admin, auth.user.id, auth.device.id)
    assert revoked and auth.device.id in revoked[0].device_ids
    with pytest.raises(Revoked):
        await sign_in(env, auth.device.id, key)
    with pytest.raises(Unauthenticated):
        await env.auth.authenticate(again.token, RequestContext("x"))
    # the other device is untouched
    still = await sign_in(env, auth2.device.id, key2)
    assert still.device.id == auth2.device.id

    await env.clients.revoke_user(admin, auth.user.id)
    with pytest.raises(Revoked):
        await sign_in(env, auth2.device.id, key2)
    with pytest.raises(Unauthenticated):  # its sessions were ended
        await env.auth.authenticate(still.token, RequestContext("x"))
    row = {r.id: r for r in await env.clients.list_clients(admin)}[auth.user.id]
    assert row.status == "Revoked"


async def test_signature_must_match_key_server_and_challenge(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    auth, key = await env.redeem(issued.otp)
    ctx = RequestContext("10.0.0.3")
    ch = await env.auth.challenge(ctx, auth.device.id)
    stranger = devicekeys.generate_private_key()
    bad = devicekeys.sign(
        stranger, devicekeys.challenge_message("srv-test", auth.device.id, ch.challenge)
    )
    with pytest.raises(SignatureInvalid):
        await env.auth.sign_in_device(ctx, auth.device.id, ch.challenge, bad)
    # the challenge was consumed by the failed attempt
    good = devicekeys.sign(
        key, devicekeys.challenge_message("srv-test", auth.device.id, ch.challenge)
    )
    with pytest.raises(ChallengeInvalid):
        await env.auth.sign_in_device(ctx, auth.device.id, ch.challenge, good)
    # signed for another server
    ch = await env.auth.challenge(ctx, auth.device.id)
    other = devicekeys.sign(
        key, devicekeys.challenge_message("srv-other", auth.device.id, ch.challenge)
    )
    with pytest.raises(SignatureInvalid):
        await env.auth.sign_in_device(ctx, auth.device.id, ch.challenge, other)
    # expired challenge
    ch = await env.auth.challenge(ctx, auth.device.id)
    env.clock.advance(61)
    good = devicekeys.sign(
        key, devicekeys.challenge_message("srv-test", auth.device.id, ch.challenge)
    )
    with pytest.raises(ChallengeInvalid):
        await env.auth.sign_in_device(ctx, auth.device.id, ch.challenge, good)


async def test_a_challenge_signs_in_once_and_only_its_device(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    auth, key = await env.redeem(issued.otp)
    other_issued = await env.clients.add_client(admin, base_url="https://h:1")
    other, other_key = await env.redeem(other_issued.otp, name="Other")
    ctx = RequestContext("10.0.0.3")
    ch = await env.auth.challenge(ctx, auth.device.id)
    good = devicekeys.sign(
        key, devicekeys.challenge_message("srv-test", auth.device.id, ch.challenge)
    )
    await env.auth.sign_in_device(ctx, auth.device.id, ch.challenge, good)
    # the very same signed challenge, replayed after it let the device in
    with pytest.raises(ChallengeInvalid):
        await env.auth.sign_in_device(ctx, auth.device.id, ch.challenge, good)
    # a challenge issued for one device does not sign another one in
    ch = await env.auth.challenge(ctx, auth.device.id)
    theirs = devicekeys.sign(
        other_key, devicekeys.challenge_message("srv-test", other.device.id, ch.challenge)
    )
    with pytest.raises(ChallengeInvalid):
        await env.auth.sign_in_device(ctx, other.device.id, ch.challenge, theirs)


async def test_sessions_are_short_lived(env: Env) -> None:
    auth = await env.login("alice", ADMIN_PASSWORD)
    env.clock.advance(15 * 60)
    with pytest.raises(Unauthenticated):
        await env.auth.authenticate(auth.token, RequestContext("x"))


async def test_guest_account_expires(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(
        admin, base_url="https://h:1", account_expires_at=env.clock.now() + timedelta(hours=5)
    )
    auth, key = await env.redeem(issued.otp)
    env.clock.advance(5 * 3600)
    with pytest.raises(AccountExpired):
        await sign_in(env, auth.device.id, key)
    row = {r.id: r for r in await env.clients.list_clients(admin)}[auth.user.id]
    assert row.status == "Expired"


async def test_a_session_opened_before_the_account_expired_is_refused(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(
        admin, base_url="https://h:1", account_expires_at=env.clock.now() + timedelta(minutes=5)
    )
    auth, _ = await env.redeem(issued.otp)
    ctx = RequestContext("10.0.0.2")
    assert (await env.auth.authenticate(auth.token, ctx)).user.id == auth.user.id
    env.clock.advance(5 * 60)  # the session (15 minutes) is still open; the account is not
    with pytest.raises(AccountExpired):
        await env.auth.authenticate(auth.token, ctx)


async def test_automatic_authentication_off_refuses_device_sign_in(tmp_path: Path) -> None:
    env = await make_env(tmp_path, automatic_authentication=False)
    try:
        admin = await env.admin()
        issued = await env.clients.add_client(admin, base_url="https://h:1")
        auth, key = await env.redeem(issued.otp)
        with pytest.raises(AutomaticAuthenticationDisabled):
            await sign_in(env, auth.device.id, key)
    finally:
        await env.services.close()


# Automatic authentication off: every start asks, but a running client neither piles up
# devices nor loses its session after 15 minutes.


async def test_password_sign_in_with_the_same_key_keeps_the_device(tmp_path: Path) -> None:
    env = await make_env(tmp_path, automatic_authentication=False)
    try:
        key = devicekeys.generate_private_key()
        public = devicekeys.public_key_of(key)
        ctx = RequestContext("10.0.0.1")
        first = await env.auth.login_password(ctx, "alice", ADMIN_PASSWORD, "laptop", public)
        again = await env.auth.login_password(ctx, "alice", ADMIN_PASSWORD, "laptop", public)
        assert again.device.id == first.device.id
        other = await env.auth.login_password(
            ctx, "alice", ADMIN_PASSWORD, "phone", devicekeys.public_key_of(
                devicekeys.generate_private_key()
            )
        )  # fmt: skip
        assert other.device.id != first.device.id
        devices = await env.store.list_devices(first.user.id)
        assert len(devices) == 2
        # a revoked device's key never comes back (it may have leaked): the revocation stays
        await env.store.revoke_devices([first.device.id], env.clock.now())
        with pytest.raises(Revoked):
            await env.auth.login_password(ctx, "alice", ADMIN_PASSWORD, "laptop", public)
        assert len(await env.store.list_devices(first.user.id)) == 2
    finally:
        await env.services.close()


async def _signed(env, device_id: str, key, token: str | None):  # type: ignore[no-untyped-def]
    ctx = RequestContext("10.0.0.3")
    ch = await env.auth.challenge(ctx, device_id)
    sig = devicekeys.sign(key, devicekeys.challenge_message("srv-test", device_id, ch.challenge))
    return await env.auth.sign_in_device(ctx, device_id, ch.challenge, sig, current_token=token)


async def test_a_running_client_renews_its_session_but_a_new_start_asks(tmp_path: Path) -> None:
    env = await make_env(tmp_path, automatic_authentication=False)
    try:
        key = devicekeys.generate_private_key()
        ctx = RequestContext("10.0.0.1")
        auth = await env.auth.login_password(
            ctx, "alice", ADMIN_PASSWORD, "laptop", devicekeys.public_key_of(key)
        )
        with pytest.raises(AutomaticAuthenticationDisabled):
            await _signed(env, auth.device.id, key, None)  # a new start
        env.clock.advance(14 * 60)
        renewed = await _signed(env, auth.device.id, key, auth.token)
        assert renewed.device.id == auth.device.id and renewed.token != auth.token
        env.clock.advance(14 * 60)  # the first session has ended, the renewed one lives
        with pytest.raises(Unauthenticated):
            await env.auth.authenticate(auth.token, ctx)
        await env.auth.authenticate(renewed.token, ctx)
        # another device's session does not open this one
        bob_key = devicekeys.generate_private_key()
        bob = await env.auth.login_password(
            ctx, "bob", "bob-password", "phone", devicekeys.public_key_of(bob_key)
        )
        with pytest.raises(AutomaticAuthenticationDisabled):
            await _signed(env, auth.device.id, key, bob.token)
        # an ended session renews nothing
        env.clock.advance(16 * 60)
        with pytest.raises(AutomaticAuthenticationDisabled):
            await _signed(env, auth.device.id, key, renewed.token)
    finally:
        await env.services.close()


# Whether a live session may continue is pushed to its holder by the AuthService (no poll):
# logout, revocation, a change of the account, and the session's end by one timer.


class Recorder:
    def __init__(self) -> None:
        self.ended: list[DomogateError] = []
        self.changed: list[Caller] = []

    def access_ended(self, error: DomogateError) -> None:
        self.ended.append(error)

    def access_changed(self, caller: Caller, announce: bool) -> None:
        self.changed.append(caller)


async def test_logout_and_revocation_are_pushed(env: Env) -> None:
    admin = await env.admin()
    bob = await env.login("bob", "bob-password")
    holder, other = Recorder(), Recorder()
    env.auth.watch(await env.caller(bob), holder)
    auth2 = await env.login("bob", "bob-password")
    env.auth.watch(await env.caller(auth2), other)
    env.auth.logout(bob.token)
    assert [e.code for e in holder.ended] == ["unauthenticated"]
    assert other.ended == []
    await env.clients.revoke_device(admin, auth2.user.id, auth2.device.id)
    assert [e.code for e in other.ended] == ["revoked"]


async def test_a_change_behind_the_back_is_found_by_recheck(env: Env) -> None:
    bob = await env.login("bob", "bob-password")
    holder = Recorder()
    env.auth.watch(await env.caller(bob), holder)
    user = await env.store.get_user(bob.user.id)
    assert user is not None
    await env.store.update_user(replace(user, admin=True))
    await env.auth.recheck_live()
    assert holder.changed and holder.changed[-1].user.admin
    await env.store.revoke_devices([bob.device.id], env.clock.now())
    await env.auth.recheck_live()
    assert [e.code for e in holder.ended] == ["revoked"]


async def test_one_timer_ends_sessions_at_their_deadline(env: Env) -> None:
    clock = FakeClock()
    due: list[str] = []
    registry = WatchRegistry(clock, lambda c: c.session.expires_at)
    registry.on_due = lambda watch, now: due.append(watch.caller.session.token_hash)
    bob = await env.caller(await env.login("bob", "bob-password"))
    soon = replace(bob.session, token_hash="soon", expires_at=clock.now())
    later = replace(bob.session, token_hash="later", expires_at=clock.now().replace(year=2100))
    registry.add(replace(bob, session=soon), Recorder())
    registry.add(replace(bob, session=later), Recorder())
    await asyncio.sleep(0.05)
    assert due == ["soon"]


# Ways in found by review, each tried and refused: throttled password guesses,
# bounded live challenges.


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
