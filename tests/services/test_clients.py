"""services/clients.py: client slots issued with an OTP, their redemption and revocation."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from domogate.core import devicekeys, joinlink
from domogate.core import otp as otp_rules
from domogate.core.names import name_taken
from domogate.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    OtpDisabled,
    OtpExpired,
    OtpInvalid,
    OtpUsed,
    Revoked,
)
from domogate.security.sealing import Sealer
from domogate.services.context import RequestContext
from domogate.services.events import ClientsChanged
from tests.support.services_env import Env, make_env

# Add a client with an OTP, redeem it, revoke.


async def test_slot_is_labelled_by_its_otp_then_by_the_name(env: Env) -> None:
    admin = await env.admin()
    events: list[object] = []
    env.services.events.subscribe(events.append)
    issued = await env.clients.add_client(admin, base_url="https://127.0.0.1:7550", group="guests")
    assert issued.client.label == issued.otp
    assert issued.client.status == "Pending"
    assert issued.client.name is None
    assert issued.otp_expires_at == env.clock.now() + timedelta(hours=2)
    link = joinlink.parse(issued.join_link)
    assert link.otp == issued.otp and link.server_id == "srv-test" and link.fingerprint == "ab" * 32
    assert "?" not in issued.join_link.split("#")[0]
    assert any(isinstance(e, ClientsChanged) for e in events)

    auth, _ = await env.redeem(issued.otp.lower().replace("-", " "), name="Zoé")
    assert auth.user.name == "Zoé" and auth.user.group == "guests" and not auth.user.admin
    rows = {r.id: r for r in await env.clients.list_clients(admin)}
    row = rows[issued.client.id]
    assert row.label == "Zoé"
    assert row.status == "Offline"
    assert row.otp_expires_at is None
    assert [d.name for d in row.devices] == ["phone"]
    env.clients.connected(auth.device.id, auth.session.path)
    row = {r.id: r for r in await env.clients.list_clients(admin)}[issued.client.id]
    assert row.status == "Online"
    assert row.devices[0].online is True


TYPINGS = {
    "lower case": lambda shown: shown.lower(),
    "no dash": lambda shown: shown.replace("-", ""),
    "spaces": lambda shown: " ".join(shown.replace("-", "")),
    "dashes": lambda shown: "-" + "--".join(shown.replace("-", "")) + "-",
    "dots, mixed case": lambda shown: shown.replace("-", ".").swapcase(),
    "underscores": lambda shown: "_".join(shown.split("-")),
    "tabs and newlines": lambda shown: "\t" + shown.replace("-", " \n") + "\r\n",
}


@pytest.mark.parametrize("typing", TYPINGS.values(), ids=TYPINGS.keys())
async def test_typed_otp_ignores_case_spaces_dashes_dots_underscores(env: Env, typing) -> None:  # type: ignore[no-untyped-def]
    """docs/security.md: typed input ignores case, spaces, dashes, dots and underscores."""
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    typed = typing(issued.otp)
    assert typed != issued.otp
    auth, _ = await env.redeem(typed, name="Typist")
    assert auth.user.id == issued.client.id


async def test_otp_is_single_use(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    await env.redeem(issued.otp)
    with pytest.raises(OtpUsed):
        await env.redeem(issued.otp, name="Mallory", source="10.9.9.9")


async def test_twenty_concurrent_redemptions_exactly_one_wins(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    results = await asyncio.gather(
        *(env.redeem(issued.otp, name=f"p{i}", source=f"10.1.0.{i}") for i in range(20)),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1
    assert all(isinstance(e, OtpUsed) for e in losses), losses
    devices = await env.store.list_devices(issued.client.id)
    assert len(devices) == 1


async def test_otp_expires_on_time(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(
        admin, base_url="https://h:1", valid_for=timedelta(minutes=10)
    )
    env.clock.advance(10 * 60)
    with pytest.raises(OtpExpired):
        await env.redeem(issued.otp)
    row = {r.id: r for r in await env.clients.list_clients(admin)}[issued.client.id]
    assert row.status == "Expired"
    assert row.label != issued.otp  # the plaintext is gone once expired


async def test_background_expiry_wipes_the_sealed_copy(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(
        admin, base_url="https://h:1", valid_for=timedelta(seconds=30)
    )
    env.clock.advance(29)
    assert await env.clients.expire_due() == 0
    env.clock.advance(1)
    assert await env.clients.expire_due() == 1
    pending = await env.store.pending_otps()
    assert pending == []
    with pytest.raises(OtpExpired):
        await env.redeem(issued.otp)


async def test_validity_is_bounded(env: Env) -> None:
    admin = await env.admin()
    with pytest.raises(InvalidInput):
        await env.clients.add_client(admin, base_url="https://h:1", valid_for=timedelta(hours=25))


async def test_wrong_and_malformed_otps(env: Env) -> None:
    admin = await env.admin()
    await env.clients.add_client(admin, base_url="https://h:1")
    with pytest.raises(OtpInvalid):
        await env.redeem("ACDEF-ACDEF")
    with pytest.raises(OtpInvalid):
        await env.redeem("not an otp at all")
    with pytest.raises(OtpInvalid):
        await env.redeem("")


async def test_new_otp_replaces_the_previous_one(env: Env) -> None:
    admin = await env.admin()
    first = await env.clients.add_client(admin, base_url="https://h:1")
    second = await env.clients.issue_otp(admin, first.client.id, base_url="https://h:1")
    with pytest.raises(OtpInvalid):
        await env.redeem(first.otp)
    auth, _ = await env.redeem(second.otp)
    assert auth.user.id == first.client.id


async def test_new_otp_for_existing_user_adds_a_device_and_keeps_the_name(env: Env) -> None:
    admin = await env.admin()
    bob = await env.store.find_user_by_name("bob")
    assert bob is not None
    issued = await env.clients.issue_otp(admin, bob.id, base_url="https://h:1")
    assert issued.client.label == "bob"  # an existing user keeps its name as label
    assert issued.client.otp_expires_at is not None
    auth, _ = await env.redeem(issued.otp, name="Somebody else")
    assert auth.user.name == "bob"


async def test_name_taken_is_refused_and_otp_stays_usable(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    with pytest.raises(Conflict):
        await env.redeem(issued.otp, name="ALICE")
    auth, _ = await env.redeem(issued.otp, name="Carol")
    assert auth.user.name == "Carol"


async def test_a_taken_name_is_refused_with_one_message_whoever_asks(env: Env) -> None:
    """Adding a named client and naming oneself at redemption: one rule, one message."""
    admin = await env.admin()
    with pytest.raises(Conflict) as added:
        await env.clients.add_client(admin, base_url="https://h:1", name="Ａ lice")
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    with pytest.raises(Conflict) as redeemed:
        await env.redeem(issued.otp, name="ALICE")
    assert added.value.message == name_taken("Ａ lice").message  # wording: tests/core
    assert redeemed.value.message == name_taken("ALICE").message
    assert added.value.details == redeemed.value.details == {"field": "name"}
    assert len(await env.clients.list_clients(admin)) == 3  # alice, bob, the new slot


async def test_untrusted_names_are_kept_verbatim(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    evil = "<img src=x onerror=alert(1)>"
    auth, _ = await env.redeem(issued.otp, name=evil)
    assert auth.user.name == evil
    with pytest.raises(InvalidInput):
        issued2 = await env.clients.add_client(admin, base_url="https://h:1")
        await env.redeem(issued2.otp, name="bad\x00name")


async def test_only_admins_manage_clients(env: Env) -> None:
    bob = await env.caller(await env.login("bob", "bob-password"))
    with pytest.raises(Forbidden):
        await env.clients.add_client(bob, base_url="https://h:1")
    with pytest.raises(Forbidden):
        await env.clients.list_clients(bob)


async def test_unknown_group_is_refused(env: Env) -> None:
    admin = await env.admin()
    with pytest.raises(InvalidInput, match="family, guests"):
        await env.clients.add_client(admin, base_url="https://h:1", group="nobody")


async def test_otp_disabled_refuses_issuing_and_redeeming(tmp_path: Path) -> None:
    env = await make_env(tmp_path, use_otp_authentication=True)
    try:
        admin = await env.admin()
        issued = await env.clients.add_client(admin, base_url="https://h:1")
        from tests.support.services_env import SERVICE_PASSWORD, project_data

        await env.services.deploy.deploy(
            RequestContext("integrator"),
            project_data(use_otp_authentication=False),
            password=SERVICE_PASSWORD,
        )
        with pytest.raises(OtpDisabled):
            await env.clients.add_client(admin, base_url="https://h:1")
        with pytest.raises(OtpDisabled):
            await env.redeem(issued.otp)
    finally:
        await env.services.close()


async def test_otp_is_stored_only_as_digest_and_sealed_copy(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    await env.services.audit.flush()
    await env.store.close()  # flush the WAL into the file
    raw = b""
    for p in env.db_path.parent.glob(env.db_path.name + "*"):
        raw += p.read_bytes()
    canonical = issued.otp.replace("-", "")
    assert canonical.encode() not in raw
    assert issued.otp.encode() not in raw
    with sqlite3.connect(env.db_path) as conn:
        rows = conn.execute("SELECT digest, sealed FROM otps WHERE state = 'pending'").fetchall()
    conn.close()
    assert len(rows) == 1
    digest, sealed = rows[0]
    # HMAC with the server's key (b"k" * 32 in these tests), not a digest anyone can compute
    assert digest == otp_rules.digest(b"k" * 32, canonical)
    assert digest != otp_rules.digest(b"", canonical)
    assert digest != hashlib.sha256(canonical.encode()).hexdigest()
    assert canonical.encode() not in sealed
    assert Sealer(b"s" * 32).open(sealed) == canonical


# Ways in found by review, each tried and refused: redemption against revocation.


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
