"""Whether a live session may continue is pushed to its holder by the AuthService (no poll):
logout, revocation, a change of the account, and the session's end by one timer."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from domogate.errors import DomogateError
from domogate.services.context import Caller
from domogate.services.watch import WatchRegistry
from tests.support.fakes import FakeClock
from tests.support.services_env import Env


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
