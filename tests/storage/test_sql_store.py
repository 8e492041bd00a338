"""SqlAccountStore on real SQLite files: every port method, atomicity, races, reopening."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import StatementError

from domogate.core.accounts import (
    ALL_PATHS,
    AuditEvent,
    ConnectionPath,
    Device,
    OtpRecord,
    OtpState,
    ProjectVersion,
    User,
    UserOrigin,
)
from domogate.errors import Conflict, InvalidInput, NotFound
from domogate.services.ports import AccountStore
from domogate.storage.sql import (
    Base,
    SqlAccountStore,
    name_key,
    open_store,
    sync_url_for,
    upgrade_database,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "domogate.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqlAccountStore]:
    s = await open_store(url_of(db_path))
    try:
        yield s
    finally:
        await s.close()


def make_user(
    uid: str = "u1",
    name: str | None = "Alice",
    *,
    group: str = "family",
    admin: bool = False,
    origin: UserOrigin = UserOrigin.ADMIN,
    created_at: datetime = NOW,
    **kw: object,
) -> User:
    return User(
        id=uid,
        name=name,
        group=group,
        admin=admin,
        origin=origin,
        created_at=created_at,
        **kw,  # type: ignore[arg-type]
    )


def make_device(did: str = "d1", uid: str = "u1", **kw: object) -> Device:
    values: dict[str, object] = {
        "id": did,
        "user_id": uid,
        "name": f"phone {did}",
        "public_key": f"pk-{did}",
        "created_at": NOW,
    }
    values.update(kw)
    return Device(**values)  # type: ignore[arg-type]


def make_otp(
    oid: str = "o1",
    uid: str = "u1",
    *,
    created_at: datetime = NOW,
    valid: timedelta = timedelta(hours=2),
    digest: str | None = None,
    sealed: bytes | None = b"sealed-copy",
) -> OtpRecord:
    return OtpRecord(
        id=oid,
        user_id=uid,
        digest=digest or f"digest-{oid}",
        created_at=created_at,
        expires_at=created_at + valid,
        sealed=sealed,
    )


def version(n: int, **data: object) -> ProjectVersion:
    return ProjectVersion(
        version=n,
        data={"name": f"v{n}", **data},
        deployed_at=NOW + timedelta(minutes=n),
        deployed_by="setup",
    )


def _implements_the_port(store: SqlAccountStore) -> AccountStore:
    return store  # checked by mypy: SqlAccountStore satisfies the AccountStore Protocol


# --- schema -----------------------------------------------------------------------------


async def test_open_store_migrates_quietly_and_matches_models(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = await open_store(url_of(db_path))
    await store.close()
    out = capsys.readouterr()
    assert out.out == ""

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"users", "devices", "otps", "audit_events", "project_versions", "meta"} <= tables

    # the hand-written migration and the declarative models describe the same schema
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(sync_url_for(url_of(db_path)))
    try:
        with engine.connect() as conn2:
            diffs = compare_metadata(MigrationContext.configure(conn2), Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


async def test_concurrent_opens_of_one_file(db_path: Path) -> None:
    stores = await asyncio.gather(*(open_store(url_of(db_path)) for _ in range(4)))
    try:
        await stores[0].add_user(make_user())
        for s in stores:
            assert await s.get_user("u1") is not None
    finally:
        for s in stores:
            await s.close()


async def test_upgrade_is_idempotent(db_path: Path) -> None:
    upgrade_database(sync_url_for(url_of(db_path)))
    upgrade_database(sync_url_for(url_of(db_path)))
    store = await open_store(url_of(db_path))
    await store.close()


def test_upgrade_refuses_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        upgrade_database(f"sqlite:///{tmp_path / 'nope' / 'x.db'}")


def test_sync_url_for() -> None:
    assert sync_url_for("sqlite+aiosqlite:////data/x.db") == "sqlite:////data/x.db"
    assert sync_url_for("sqlite:///x.db") == "sqlite:///x.db"
    assert (
        sync_url_for("postgresql+asyncpg://u:p%40ss@h/db") == "postgresql+asyncpg://u:p%40ss@h/db"
    )


async def test_sqlite_connection_settings(store: SqlAccountStore) -> None:
    async with store.engine.connect() as conn:
        values = {
            p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar()
            for p in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert values == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


# --- users ------------------------------------------------------------------------------


async def test_user_round_trip(store: SqlAccountStore) -> None:
    paris = timezone(timedelta(hours=1))
    user = make_user(
        admin=True,
        password_hash="$argon2id$v=19$...",
        allowed_paths=frozenset({ConnectionPath.LOCAL}),
        account_expires_at=datetime(2025, 4, 1, 13, 0, tzinfo=paris),
    )
    await store.add_user(user)
    got = await store.get_user("u1")
    assert got == user
    assert got is not None
    assert got.created_at.tzinfo is UTC
    assert got.account_expires_at == datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    assert got.account_expires_at.tzinfo is UTC
    assert await store.get_user("nobody") is None

    for typed in ("Alice", "ALICE", "alice", " aLiCe "):
        assert await store.find_user_by_name(typed) == user
    assert await store.find_user_by_name("Bob") is None
    assert await store.find_user_by_name("") is None

    updated = replace(
        user,
        name="Alicia",
        group="guests",
        admin=False,
        password_hash=None,
        allowed_paths=ALL_PATHS,
        account_expires_at=None,
        revoked_at=NOW + timedelta(days=1),
    )
    await store.update_user(updated)
    assert await store.get_user("u1") == updated
    assert await store.find_user_by_name("alice") is None
    # revoked users are still found by name
    assert await store.find_user_by_name("ALICIA") == updated


async def test_list_users_and_nameless_slots(store: SqlAccountStore) -> None:
    a = make_user("u1", "Alice", created_at=NOW)
    s1 = make_user("s1", None, created_at=NOW + timedelta(seconds=1))
    s2 = make_user("s2", None, created_at=NOW + timedelta(seconds=2), allowed_paths=frozenset())
    for u in (s2, a, s1):
        await store.add_user(u)
    assert await store.list_users() == [a, s1, s2]
    assert (await store.get_user("s2")) == s2  # an empty path set survives


async def test_user_name_and_id_conflicts(store: SqlAccountStore) -> None:
    await store.add_user(make_user("u1", "Alice"))
    await store.add_user(make_user("u2", "Bob"))
    with pytest.raises(Conflict):
        await store.add_user(make_user("u3", "ALICE"))
    with pytest.raises(Conflict):
        await store.add_user(make_user("u1", "Carol"))  # same id
    with pytest.raises(Conflict):
        await store.update_user(make_user("u2", "alice"))
    with pytest.raises(NotFound):
        await store.update_user(make_user("ghost", "Ghost"))
    with pytest.raises(InvalidInput):
        await store.add_user(make_user("u4", "   "))
    assert [u.name for u in await store.list_users()] == ["Alice", "Bob"]


async def test_name_key_normalisation() -> None:
    assert name_key(" Straße ") == name_key("STRASSE")
    assert name_key("Ｂｏｂ") == name_key("bob")  # full-width letters


async def test_naive_datetimes_are_refused(store: SqlAccountStore) -> None:
    with pytest.raises(StatementError):
        await store.add_user(make_user(created_at=datetime(2025, 1, 1)))
    assert await store.list_users() == []


# --- devices ----------------------------------------------------------------------------


async def test_device_round_trip(store: SqlAccountStore) -> None:
    await store.add_user(make_user("u1", "Alice"))
    await store.add_user(make_user("u2", "Bob"))
    d1 = make_device("d1", "u1")
    d2 = make_device("d2", "u1", created_at=NOW + timedelta(seconds=1))
    d3 = make_device("d3", "u2", last_path=ConnectionPath.CLOUD, last_seen_at=NOW)
    for d in (d1, d2, d3):
        await store.add_device(d)
    assert await store.get_device("d1") == d1
    assert await store.get_device("d3") == d3
    assert await store.get_device("nope") is None
    assert await store.list_devices() == [d1, d3, d2]
    assert await store.list_devices("u1") == [d1, d2]
    assert await store.list_devices("u2") == [d3]
    assert await store.list_devices("nobody") == []

    seen = NOW + timedelta(minutes=5)
    await store.write_activity(
        [], [("d1", seen, ConnectionPath.CLOUD), ("missing", seen, ConnectionPath.LOCAL)]
    )  # an unknown device is no error
    got = await store.get_device("d1")
    assert got is not None
    assert (got.last_seen_at, got.last_path) == (seen, ConnectionPath.CLOUD)
    assert got.last_seen_at is not None
    assert got.last_seen_at.tzinfo is UTC

    await store.revoke_devices(["d1", "d3", "missing"], NOW + timedelta(hours=1))
    await store.revoke_devices(["d1"], NOW + timedelta(hours=2))  # keeps the first time
    await store.revoke_devices([], NOW)
    revoked = {d.id: d.revoked_at for d in await store.list_devices()}
    assert revoked == {
        "d1": NOW + timedelta(hours=1),
        "d2": None,
        "d3": NOW + timedelta(hours=1),
    }


async def test_device_errors(store: SqlAccountStore) -> None:
    with pytest.raises(NotFound):
        await store.add_device(make_device("d1", "ghost"))
    await store.add_user(make_user())
    await store.add_device(make_device("d1"))
    with pytest.raises(Conflict):
        await store.add_device(make_device("d1"))
    assert len(await store.list_devices()) == 1


async def test_foreign_keys_cascade(store: SqlAccountStore) -> None:
    await store.add_user(make_user())
    await store.add_device(make_device())
    await store.add_otp(make_otp())
    async with store.engine.begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE id = 'u1'"))
    assert await store.list_devices() == []
    assert await store.pending_otps() == []


# --- OTPs -------------------------------------------------------------------------------


async def test_otp_round_trip_and_finish(store: SqlAccountStore) -> None:
    await store.add_user(make_user())
    otp = make_otp()
    await store.add_otp(otp)
    assert await store.find_otp_by_digest("digest-o1") == otp
    assert await store.find_otp_by_digest("other") is None
    assert await store.pending_otps() == [otp]

    at = NOW + timedelta(hours=3)
    assert await store.finish_otp("o1", OtpState.EXPIRED, at) is True
    assert await store.finish_otp("o1", OtpState.REVOKED, at) is False
    assert await store.finish_otp("missing", OtpState.EXPIRED, at) is False
    finished = await store.find_otp_by_digest("digest-o1")
    assert finished == replace(otp, state=OtpState.EXPIRED, sealed=None, finished_at=at)
    assert await store.pending_otps() == []

    with pytest.raises(InvalidInput):
        await store.finish_otp("o1", OtpState.PENDING, at)
    with pytest.raises(InvalidInput):
        await store.add_otp(replace(make_otp("o2"), state=OtpState.USED))
    with pytest.raises(NotFound):
        await store.add_otp(make_otp("o3", "ghost"))


async def test_add_otp_replaces_previous_pending(store: SqlAccountStore) -> None:
    await store.add_user(make_user("u1", "Alice"))
    await store.add_user(make_user("u2", "Bob"))
    first = make_otp("o1", "u1")
    other_user = make_otp("o9", "u2")
    await store.add_otp(first)
    await store.add_otp(other_user)
    later = NOW + timedelta(minutes=10)
    second = make_otp("o2", "u1", created_at=later)
    await store.add_otp(second)

    assert await store.pending_otps() == [other_user, second]
    old = await store.get_otp("o1")
    assert old == replace(first, state=OtpState.REPLACED, sealed=None, finished_at=later)
    with sqlite3.connect(store.engine.url.database or "") as conn:
        row = conn.execute("SELECT sealed, state FROM otps WHERE id = 'o1'").fetchone()
    conn.close()
    assert row == (None, "replaced")


async def test_find_otp_by_digest_prefers_pending(store: SqlAccountStore) -> None:
    await store.add_user(make_user())
    await store.add_otp(make_otp("o1", digest="same"))
    await store.finish_otp("o1", OtpState.USED, NOW)
    await store.add_otp(make_otp("o2", digest="same", created_at=NOW - timedelta(minutes=1)))
    found = await store.find_otp_by_digest("same")
    assert found is not None
    assert (found.id, found.state) == ("o2", OtpState.PENDING)


async def _slot_with_otp(store: SqlAccountStore) -> tuple[User, OtpRecord]:
    slot = make_user("u1", None)
    otp = make_otp("o1", "u1")
    await store.add_user(slot)
    await store.add_otp(otp)
    return slot, otp


async def test_redeem_otp(store: SqlAccountStore) -> None:
    slot, otp = await _slot_with_otp(store)
    at = NOW + timedelta(minutes=30)
    named = replace(slot, name="Carol")
    device = make_device("d1", "u1", created_at=at, last_seen_at=at, last_path="local")
    assert await store.redeem_otp("o1", at, named, device) is True

    assert await store.get_user("u1") == named
    assert await store.list_devices("u1") == [device]
    used = await store.get_otp("o1")
    assert used == replace(otp, state=OtpState.USED, sealed=None, finished_at=at)
    assert await store.pending_otps() == []

    # a second redemption loses and changes nothing
    again = make_device("d2", "u1")
    assert await store.redeem_otp("o1", at, replace(slot, name="Mallory"), again) is False
    assert await store.get_user("u1") == named
    assert await store.list_devices() == [device]


async def test_redeem_expired_otp_fails(store: SqlAccountStore) -> None:
    slot, otp = await _slot_with_otp(store)
    named = replace(slot, name="Carol")
    for at in (otp.expires_at, otp.expires_at + timedelta(seconds=1)):
        assert await store.redeem_otp("o1", at, named, make_device()) is False
    assert await store.get_user("u1") == slot
    assert await store.list_devices() == []
    assert await store.get_otp("o1") == otp  # still pending, sealed copy kept
    just_in_time = otp.expires_at - timedelta(microseconds=1)
    assert await store.redeem_otp("o1", just_in_time, named, make_device()) is True


async def test_redeem_checks_ownership(store: SqlAccountStore) -> None:
    slot, otp = await _slot_with_otp(store)
    await store.add_user(make_user("u2", "Bob"))
    bob = await store.get_user("u2")
    assert bob is not None
    assert await store.redeem_otp("o1", NOW, bob, make_device("d1", "u2")) is False
    with pytest.raises(InvalidInput):
        await store.redeem_otp("o1", NOW, slot, make_device("d1", "u2"))
    assert await store.get_otp("o1") == otp
    assert await store.list_devices() == []


async def test_redeem_rolls_back_when_a_later_step_fails(store: SqlAccountStore) -> None:
    slot, otp = await _slot_with_otp(store)
    await store.add_user(make_user("u2", "Carol"))
    # the name is taken: the user update fails after the OTP was marked used
    with pytest.raises(Conflict):
        await store.redeem_otp("o1", NOW, replace(slot, name="carol"), make_device())
    assert await store.get_otp("o1") == otp
    assert await store.get_user("u1") == slot
    # a duplicate device id fails at the last step
    await store.add_device(make_device("dX", "u2"))
    with pytest.raises(Conflict):
        await store.redeem_otp("o1", NOW, replace(slot, name="Dan"), make_device("dX", "u1"))
    assert await store.get_otp("o1") == otp
    assert await store.get_user("u1") == slot
    assert [d.id for d in await store.list_devices()] == ["dX"]


async def _race(stores: list[SqlAccountStore], attempts: int) -> list[bool]:
    slot = make_user("u1", None)
    await stores[0].add_user(slot)
    await stores[0].add_otp(make_otp("o1", "u1"))
    at = NOW + timedelta(minutes=1)

    async def attempt(i: int) -> bool:
        store = stores[i % len(stores)]
        device = make_device(f"d{i}", "u1", created_at=at)
        return await store.redeem_otp("o1", at, replace(slot, name=f"Person {i}"), device)

    return list(await asyncio.gather(*(attempt(i) for i in range(attempts))))


async def test_redeem_race_single_store(store: SqlAccountStore) -> None:
    results = await _race([store], 20)
    assert results.count(True) == 1
    winner = results.index(True)
    devices = await store.list_devices()
    assert [d.id for d in devices] == [f"d{winner}"]
    user = await store.get_user("u1")
    assert user is not None
    assert user.name == f"Person {winner}"
    otp = await store.get_otp("o1")
    assert otp is not None
    assert (otp.state, otp.sealed) == (OtpState.USED, None)


async def test_redeem_race_two_engines(db_path: Path) -> None:
    first = await open_store(url_of(db_path))
    second = SqlAccountStore(url_of(db_path))
    try:
        results = await _race([first, second], 20)
        assert results.count(True) == 1
        winner = results.index(True)
        for s in (first, second):
            assert [d.id for d in await s.list_devices()] == [f"d{winner}"]
    finally:
        await first.close()
        await second.close()


async def test_finish_race_with_redeem(db_path: Path) -> None:
    first = await open_store(url_of(db_path))
    second = SqlAccountStore(url_of(db_path))
    try:
        slot = make_user("u1", None)
        await first.add_user(slot)
        await first.add_otp(make_otp("o1", "u1"))
        at = NOW + timedelta(minutes=1)
        results = await asyncio.gather(
            first.redeem_otp("o1", at, replace(slot, name="Eve"), make_device("d1")),
            second.finish_otp("o1", OtpState.REVOKED, at),
            first.finish_otp("o1", OtpState.EXPIRED, at),
        )
        assert results.count(True) == 1
        otp = await second.get_otp("o1")
        assert otp is not None
        expected_device_count = 1 if results[0] else 0
        assert len(await second.list_devices()) == expected_device_count
    finally:
        await first.close()
        await second.close()


# --- project deployment -----------------------------------------------------------------


async def test_deploy_project(store: SqlAccountStore) -> None:
    assert await store.current_project() is None
    alice = make_user("p-alice", "Alice", origin=UserOrigin.PROJECT, admin=True)
    bob = make_user("p-bob", "Bob", origin=UserOrigin.PROJECT)
    v1 = version(1, pages=[{"id": "home", "title": "Home"}])
    await store.deploy_project(v1, [alice, bob], [])
    assert await store.current_project() == v1
    assert {u.id for u in await store.list_users()} == {"p-alice", "p-bob"}

    await store.add_device(make_device("d-bob", "p-bob"))
    await store.add_otp(make_otp("o-bob", "p-bob"))

    v2 = version(2)
    carol = make_user("p-carol", "Carol", origin=UserOrigin.PROJECT)
    alice2 = replace(alice, group="staff", admin=False)
    await store.deploy_project(v2, [alice2, carol], ["p-bob"])
    current = await store.current_project()
    assert current == v2
    assert current is not None
    assert current.deployed_at.tzinfo is UTC
    assert await store.list_users() == [alice2, carol]
    assert await store.list_devices() == []
    assert await store.get_otp("o-bob") is None

    # redeploying the same number replaces that version's row
    v2b = replace(v2, data={"name": "v2 again"})
    await store.deploy_project(v2b, [], [])
    assert await store.current_project() == v2b


async def test_deploy_allows_name_swaps(store: SqlAccountStore) -> None:
    a = make_user("a", "Alice")
    b = make_user("b", "Bob")
    await store.deploy_project(version(1), [a, b], [])
    await store.deploy_project(version(2), [replace(a, name="Bob"), replace(b, name="Alice")], [])
    found = await store.find_user_by_name("alice")
    assert found is not None
    assert found.id == "b"


async def test_deploy_is_all_or_nothing(store: SqlAccountStore) -> None:
    alice = make_user("p-alice", "Alice")
    bob = make_user("p-bob", "Bob")
    v1 = version(1)
    await store.deploy_project(v1, [alice, bob], [])
    await store.add_device(make_device("d-bob", "p-bob"))

    # the second upsert collides (case-insensitively) with the first: everything rolls back,
    # including the version row, the deletion of Bob and the update of Alice
    failing = [
        replace(alice, group="changed"),
        make_user("p-zed", "Zed"),
        make_user("p-zed2", "ZED"),
    ]
    with pytest.raises(Conflict):
        await store.deploy_project(version(2), failing, ["p-bob"])
    assert await store.current_project() == v1
    assert await store.list_users() == [alice, bob]
    assert [d.id for d in await store.list_devices()] == ["d-bob"]
    with sqlite3.connect(store.engine.url.database or "") as conn:
        versions = conn.execute("SELECT version FROM project_versions").fetchall()
    conn.close()
    assert versions == [(1,)]

    # a clash with a user that the deployment keeps (an admin-added one) also rolls back
    await store.add_user(make_user("guest", "Guest"))
    with pytest.raises(Conflict):
        await store.deploy_project(version(3), [make_user("p-g", "guest")], [])
    assert await store.current_project() == v1

    with pytest.raises(InvalidInput):
        await store.deploy_project(version(4), [alice], ["p-alice"])
    with pytest.raises(InvalidInput):
        await store.deploy_project(version(4), [alice, alice], [])
    assert await store.current_project() == v1


# --- audit ------------------------------------------------------------------------------


async def test_audit(store: SqlAccountStore) -> None:
    events = [
        AuditEvent(
            at=NOW + timedelta(seconds=i),
            action="otp.redeem" if i % 2 else "client.add",
            outcome="ok",
            actor_user_id="admin" if i % 2 == 0 else f"u{i}",
            actor_name="Root",
            target=f"u{i}",
            source="127.0.0.1",
            path=ConnectionPath.LOCAL if i % 3 else None,
            details={"i": i, "nested": {"x": [1, 2]}, "text": "<b>é</b>"},
        )
        for i in range(10)
    ]
    for e in events:
        await store.append_audit(e)
    assert await store.count_audit() == 10

    newest = await store.list_audit()
    assert [e.id for e in newest] == list(range(10, 0, -1))
    assert [replace(e, id=None) for e in newest] == events[::-1]
    assert newest[0].at.tzinfo is UTC

    page1 = await store.list_audit(limit=3)
    page2 = await store.list_audit(limit=3, before_id=page1[-1].id)
    assert [e.id for e in page1 + page2] == [10, 9, 8, 7, 6, 5]
    assert await store.list_audit(limit=0) == []

    # actor or target
    assert [e.details["i"] for e in await store.list_audit(user_id="u3")] == [3]
    mine = await store.list_audit(user_id="admin")
    assert [e.details["i"] for e in mine] == [8, 6, 4, 2, 0]
    assert [e.details["i"] for e in await store.list_audit(user_id="admin", before_id=5)] == [
        2,
        0,
    ]


# --- persistence --------------------------------------------------------------------------


async def test_reopening_keeps_everything(db_path: Path) -> None:
    store = await open_store(url_of(db_path))
    user = make_user("u1", "Alice", allowed_paths=frozenset({ConnectionPath.CLOUD}))
    slot = make_user("u2", None)
    device = make_device("d1", "u1", last_seen_at=NOW, last_path=ConnectionPath.CLOUD)
    otp = make_otp("o1", "u2")
    v1 = version(1, objects=[{"id": "lamp", "type": "light"}])
    event = AuditEvent(at=NOW, action="deploy", outcome="ok", details={"version": 1})
    try:
        await store.deploy_project(v1, [user], [])
        await store.add_user(slot)
        await store.add_device(device)
        await store.add_otp(otp)
        await store.append_audit(event)
    finally:
        await store.close()

    again = await open_store(url_of(db_path))
    try:
        assert await again.list_users() == [user, slot]
        assert await again.list_devices() == [device]
        assert await again.pending_otps() == [otp]
        assert await again.current_project() == v1
        assert [replace(e, id=None) for e in await again.list_audit()] == [event]
    finally:
        await again.close()


async def test_hot_path_read_sees_every_commit_at_once(store: SqlAccountStore) -> None:
    """The sign-in's direct SQLite read must never serve a stale revocation."""
    user = make_user("u-hot", "hot")
    await store.add_user(user)
    device = make_device("d-hot", "u-hot")
    await store.add_device(device)
    found = await store.get_device_and_user("d-hot")
    assert found is not None and found[0].revoked_at is None and found[1] == user
    await store.revoke_devices(["d-hot"], NOW)
    found = await store.get_device_and_user("d-hot")
    assert found is not None and found[0].revoked_at == NOW
    await store.revoke_user("u-hot", NOW)
    found = await store.get_device_and_user("d-hot")
    assert found is not None and found[1] is not None and found[1].revoked_at == NOW
    assert await store.get_device_and_user("nope") is None


async def test_migration_0002_recomputes_name_keys_and_keeps_the_older_of_two_look_alikes(
    db_path: Path,
) -> None:
    """A database written by 0001 (keys without inner spaces removed) is rekeyed: a name
    with inner spaces is found again, and of two names that become one the older keeps it."""
    from domogate.storage.sql import sync_url_for, upgrade_database

    upgrade_database(sync_url_for(url_of(db_path)), "0001")
    with sqlite3.connect(db_path) as conn:
        for i, (name, key) in enumerate([("Ann e", "ann e"), ("anne", "anne"), ("Bob", "bob")]):
            conn.execute(
                "INSERT INTO users (id, name, name_key, group_name, admin, origin, created_at,"
                " allowed_paths) VALUES (?, ?, ?, 'family', 0, 'admin', ?, 'local')",
                (f"u{i}", name, key, f"2026-01-0{i + 1} 00:00:00.000000"),
            )
    conn.close()
    store = await open_store(url_of(db_path))
    try:
        found = await store.find_user_by_name("ANNE")
        assert found is not None and found.id == "u0"
        assert (await store.find_user_by_name("ａnn e")).id == "u0"  # type: ignore[union-attr]
        assert (await store.find_user_by_name("b o b")).id == "u2"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_a_new_slot_and_its_otp_are_one_transaction(store: SqlAccountStore) -> None:
    """When the OTP cannot be stored, the slot is not either (the crash soak found a slot
    without an OTP after a kill between two transactions)."""
    await store.add_user(make_user("u-a", "Ann"))
    await store.add_otp(make_otp("o-dup", "u-a"))
    slot = make_user("u-new", None)
    with pytest.raises(Conflict):
        await store.add_otp(make_otp("o-dup", "u-new"), new_user=slot)  # duplicate OTP id
    assert await store.get_user("u-new") is None
    await store.add_otp(make_otp("o-new", "u-new"), new_user=slot)
    assert await store.get_user("u-new") is not None


async def test_a_deploy_keeps_an_admin_flag_decided_on_the_server(store: SqlAccountStore) -> None:
    """Checked in the UPDATE itself: a grant that lands while a deploy is being prepared
    (the deploy read the user before it) is not undone by the deploy's stale flag."""
    bob = make_user("p-bob", "Bob", origin=UserOrigin.PROJECT)
    await store.deploy_project(version(1), [bob], [])
    granted = replace(bob, admin=True, admin_set_on_server=True)
    await store.update_user(granted)
    await store.deploy_project(version(2), [replace(bob, group="staff")], [])  # stale admin
    (after,) = await store.list_users()
    assert after.admin and after.admin_set_on_server and after.group == "staff"


async def test_meta_moves_with_a_deploy_or_alone(store: SqlAccountStore) -> None:
    """The publisher key and the published version live in ``meta``; with a deploy they
    are written in its transaction (docs/cloud-publish.md)."""
    assert await store.get_meta("publisher_key") is None
    await store.set_meta("publisher_key", "k1")
    await store.set_meta("publisher_key", "k2")
    assert await store.get_meta("publisher_key") == "k2"
    version = ProjectVersion(1, {"format": 1}, NOW, "integrator")
    await store.deploy_project(version, [], [], meta={"published_version": "7"})
    assert await store.get_meta("published_version") == "7"

    async def fail() -> None:
        raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        await store.deploy_project(
            ProjectVersion(2, {"format": 1}, NOW, "cloud"), [], [],
            before_commit=fail, meta={"published_version": "8"},
        )  # fmt: skip
    assert await store.get_meta("published_version") == "7"  # all or nothing
    with pytest.raises(ValueError):
        await store.set_meta("current_project_version", "9")
