"""The cloud's claim rules (services/cloud/installations.py over core/cloudclaims.py), on a
real SQLite file with a fake clock: signatures, names derived from keys, open and
invite-only claims, throttled and audited passwords, release."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import cloudwire
from domogate.core.throttle import BucketSpec
from domogate.errors import (
    CloudClaimRequired,
    CloudNameMismatch,
    CloudNotInvited,
    CloudPasswordInvalid,
    Conflict,
    NotFound,
    RateLimited,
    SignatureInvalid,
)
from domogate.security.passwords import Passwords
from domogate.services.cloud.audit import CloudAudit
from domogate.services.cloud.installations import ClaimLimits, CloudInstallations, LinkHello
from domogate.services.hashing import PasswordWorker
from domogate.settings import Argon2Parameters
from domogate.storage.cloud import SqlCloudStore, open_cloud_store
from tests.support.fakes import FakeClock

FINGERPRINT = "ab" * 32


def name_of(key: Ed25519PrivateKey) -> str:
    return cloudwire.cloud_name(key.public_key())


@dataclass
class Cloud:
    store: SqlCloudStore
    clock: FakeClock
    audit: CloudAudit
    open: CloudInstallations
    invite_only: CloudInstallations

    async def link(
        self,
        key: Ed25519PrivateKey,
        password: str | None = None,
        *,
        name: str | None = None,
        source: str = "192.0.2.1",
        invite_only: bool = False,
        signed_name: str | None = None,
    ) -> object:
        nonce = secrets.token_bytes(32)
        name = name or name_of(key)
        hello = LinkHello(
            name=name,
            public_key=cloudwire.public_key_text(key.public_key()),
            signature=cloudwire.sign_link(key, nonce, FINGERPRINT, signed_name or name),
            password=password,
        )
        service = self.invite_only if invite_only else self.open
        return await service.authorise_link(
            hello, nonce=nonce, fingerprint=FINGERPRINT, source=source
        )


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[Cloud]:
    store = await open_cloud_store(f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}")
    clock = FakeClock()
    audit = CloudAudit(store, clock)
    worker = PasswordWorker(Passwords(Argon2Parameters.cheap_for_tests()), workers=1)
    limits = ClaimLimits(per_source=BucketSpec(10, 10 / 60), per_name=BucketSpec(3, 3 / 60))
    yield Cloud(
        store,
        clock,
        audit,
        CloudInstallations(store, worker, clock, audit, limits=limits),
        CloudInstallations(store, worker, clock, audit, invite_only=True, limits=limits),
    )
    await audit.close()
    worker.close()
    await store.close()


async def test_open_cloud_first_password_claims_then_the_key_alone_links(cloud: Cloud) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(CloudClaimRequired):
        await cloud.link(key)
    first = await cloud.link(key, "family-secret")
    assert first.claimed_now and first.installation.claimed  # type: ignore[attr-defined]
    again = await cloud.link(key)  # no password: the signature is the proof
    assert not again.claimed_now  # type: ignore[attr-defined]
    stored = await cloud.store.get_installation(name_of(key))
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$") and "family-secret" not in str(stored)


async def test_another_key_cannot_use_a_houses_name_nor_spend_its_allowance(
    cloud: Cloud,
) -> None:
    house = Ed25519PrivateKey.generate()
    thief = Ed25519PrivateKey.generate()
    # before the house claims (a squatter who read the server id), and after
    for password in ("family-secret", "other", None, "x", "y"):
        with pytest.raises(CloudNameMismatch):
            await cloud.link(thief, password, name=name_of(house))
    assert await cloud.store.get_installation(name_of(house)) is None
    # the name's password allowance (3) is untouched: the house claims at once
    assert (await cloud.link(house, "family-secret")).claimed_now  # type: ignore[attr-defined]
    for password in ("family-secret", None):
        with pytest.raises(CloudNameMismatch):
            await cloud.link(thief, password, name=name_of(house))
    await cloud.audit.flush()
    refused = [e for e in await cloud.store.list_cloud_audit() if e.event == "link_refused"]
    assert refused and all(e.detail.get("code") == "cloud_name_mismatch" for e in refused)


async def test_a_bad_signature_is_refused_before_anything_else(cloud: Cloud) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureInvalid):
        await cloud.link(key, "pw", signed_name="someoneelse")
    assert await cloud.store.get_installation(name_of(key)) is None


async def test_invite_only_needs_the_operators_name_and_password(cloud: Cloud) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(CloudNotInvited):
        await cloud.link(key, "pw", invite_only=True)
    await cloud.invite_only.add(name_of(key), "operator-pw")
    with pytest.raises(Conflict):
        await cloud.invite_only.add(name_of(key), "again")
    with pytest.raises(CloudClaimRequired):
        await cloud.link(key, invite_only=True)
    with pytest.raises(CloudPasswordInvalid):
        await cloud.link(key, "wrong", invite_only=True)
    linked = await cloud.link(key, "operator-pw", invite_only=True)
    assert linked.installation.invited and linked.claimed_now  # type: ignore[attr-defined]
    with pytest.raises(CloudNameMismatch):
        await cloud.link(
            Ed25519PrivateKey.generate(), "operator-pw", name=name_of(key), invite_only=True
        )


async def test_wrong_passwords_are_throttled_per_name_and_audited_once_a_window(
    cloud: Cloud,
) -> None:
    key = Ed25519PrivateKey.generate()
    await cloud.open.add(name_of(key), "operator-pw")
    for i in range(3):
        with pytest.raises(CloudPasswordInvalid):
            await cloud.link(key, f"guess-{i}", source=f"198.51.100.{i}")
    # the name's budget is spent: even the right password is not looked at now
    with pytest.raises(RateLimited) as refused:
        await cloud.link(key, "operator-pw", source="203.0.113.9")
    assert refused.value.retry_after >= 1
    cloud.clock.advance(refused.value.retry_after)
    assert (await cloud.link(key, "operator-pw")).claimed_now  # type: ignore[attr-defined]
    await cloud.audit.flush()
    events = [e.event for e in await cloud.store.list_cloud_audit()]
    assert events.count("password_invalid") == 3  # three sources: one row each
    assert "claim_throttled" in events and "claim" in events
    assert all("operator-pw" not in str(e) for e in await cloud.store.list_cloud_audit())


async def test_throttled_per_source_across_names(cloud: Cloud) -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(4)]
    for key in keys:
        await cloud.open.add(name_of(key), "operator-pw")
    refused = 0
    for i in range(12):
        try:
            await cloud.link(keys[i % 4], "wrong")
        except RateLimited:
            refused += 1
        except CloudPasswordInvalid:
            pass
    assert refused == 2  # 10 attempts per source, then refused
    await cloud.audit.flush()
    rows = [e for e in await cloud.store.list_cloud_audit() if e.event == "password_invalid"]
    assert len(rows) == 8  # 4 names: a first row each, then one aggregate each
    assert sorted(r.detail.get("repeated", 0) for r in rows) == [0, 0, 0, 0, 1, 1, 2, 2]


async def test_release_lets_the_server_claim_again(cloud: Cloud) -> None:
    key = Ed25519PrivateKey.generate()
    name = name_of(key)
    await cloud.link(key, "first")
    await cloud.open.release(name)
    with pytest.raises(NotFound):
        await cloud.open.release("unknownname")
    # released: the signature alone no longer links; a new password claims it again
    with pytest.raises(CloudClaimRequired):
        await cloud.link(key)
    assert (await cloud.link(key, "second")).claimed_now  # type: ignore[attr-defined]
    # an invited name goes back to invited: the operator's password claims it again
    await cloud.open.release(name)
    await cloud.open.add(name, "operator-pw")
    await cloud.link(key, "operator-pw")
    await cloud.open.release(name)
    stored = await cloud.store.get_installation(name)
    assert stored is not None and stored.invited and not stored.claimed
    assert (await cloud.link(key, "operator-pw")).claimed_now  # type: ignore[attr-defined]
