"""Automatic authentication off: every start asks, but a running client neither piles up
devices nor loses its session after 15 minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from domogate.core import devicekeys
from domogate.errors import AutomaticAuthenticationDisabled, Revoked, Unauthenticated
from domogate.services.context import RequestContext
from tests.support.services_env import ADMIN_PASSWORD, make_env


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
