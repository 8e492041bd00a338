"""The cloud's ``versions`` table (migration c0002) and ``SqlCloudStore``'s version methods,
on real SQLite files: a fresh database, one at c0001 with data, the conditional insert, the
report, and a release that keeps the versions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from domogate.core.cloudclaims import Installation
from domogate.core.cloudversions import StoredVersion, VersionInfo, VersionReport
from domogate.services.ports import CloudStore
from domogate.storage.cloud import SqlCloudStore, open_cloud_store
from domogate.storage.cloud.schema import CloudBase
from domogate.storage.cloud.store import CLOUD_MIGRATIONS_PATH
from domogate.storage.sql.migrate import sync_url_for, upgrade_database

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def url_of(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _implements_the_port(store: SqlCloudStore) -> CloudStore:
    return store  # checked by mypy: SqlCloudStore satisfies the CloudStore Protocol


def stored(name: str, version: int, content: bytes = b"{}") -> StoredVersion:
    digest = f"sha256:{version:064x}"
    info = VersionInfo(name, version, digest, len(content), "2027-01-10T09:00:00Z", "f" * 64, NOW)
    return StoredVersion(info, b"manifest-%d" % version, b"s" * 64, content)


def schema_diffs(path: Path) -> list[object]:
    engine = create_engine(sync_url_for(url_of(path)))
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), CloudBase.metadata))
    finally:
        engine.dispose()


async def test_a_fresh_database_gets_the_versions_table_as_modelled(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    store = await open_cloud_store(url_of(path))
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("c0002",)]
    conn.close()
    assert schema_diffs(path) == []


async def test_a_c0001_database_with_data_is_upgraded_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    upgrade_database(sync_url_for(url_of(path)), "c0001", scripts=CLOUD_MIGRATIONS_PATH)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("c0001",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "versions" not in tables
    conn.close()
    old = SqlCloudStore(url_of(path))
    await old.add_installation(Installation("home1", "$argon2id$x", "k" * 43, False, NOW))
    await old.close()

    store = await open_cloud_store(url_of(path))
    try:
        assert (await store.get_installation("home1")) is not None
        assert await store.add_version(stored("home1", 1)) is None
        assert [v.version for v in await store.list_versions("home1")] == [1]
    finally:
        await store.close()
    assert schema_diffs(path) == []


async def test_versions_are_kept_newest_first_and_never_go_back(tmp_path: Path) -> None:
    store = await open_cloud_store(url_of(tmp_path / "cloud.db"))
    try:
        assert await store.latest_version("home1") is None
        assert await store.add_version(stored("home1", 1, b'{"a":1}')) is None
        assert await store.add_version(stored("home1", 3)) is None
        assert await store.add_version(stored("home1", 3)) == 3  # the same again
        assert await store.add_version(stored("home1", 2)) == 3  # an older one
        assert await store.add_version(stored("home2", 1)) is None  # another installation
        assert [v.version for v in await store.list_versions("home1")] == [3, 1]
        latest = await store.latest_version("home1")
        assert latest is not None and latest.version == 3 and latest.report is None
        one = await store.get_version("home1", 1)
        assert one is not None and one.content == b'{"a":1}' and one.info.size == 7
        assert one.manifest == b"manifest-1" and one.signature == b"s" * 64
        assert await store.get_version("home1", 2) is None
        assert await store.get_version("home3", 1) is None
    finally:
        await store.close()


async def test_a_report_is_recorded_and_replaced(tmp_path: Path) -> None:
    store = await open_cloud_store(url_of(tmp_path / "cloud.db"))
    try:
        await store.add_version(stored("home1", 1))
        refused = VersionReport(False, "project_invalid", "objects.lamp: unknown kind", NOW)
        assert await store.set_version_report("home1", 1, refused)
        (info,) = await store.list_versions("home1")
        assert info.report == refused
        applied = VersionReport(True, None, None, NOW)
        assert await store.set_version_report("home1", 1, applied)
        assert (await store.list_versions("home1"))[0].report == applied
        assert not await store.set_version_report("home1", 9, applied)
    finally:
        await store.close()


async def test_a_release_keeps_the_versions(tmp_path: Path) -> None:
    store = await open_cloud_store(url_of(tmp_path / "cloud.db"))
    try:
        await store.add_installation(Installation("home1", "$argon2id$x", "k" * 43, False, NOW))
        await store.add_version(stored("home1", 1))
        assert await store.release_installation("home1")
        assert await store.get_installation("home1") is None  # an open claim is forgotten
        assert [v.version for v in await store.list_versions("home1")] == [1]
    finally:
        await store.close()
