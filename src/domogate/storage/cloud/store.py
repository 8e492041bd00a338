"""``SqlCloudStore``: :class:`~domogate.services.ports.CloudStore` over SQLAlchemy async.

Claims are conditional statements, so two servers racing for one name cannot both win:
an open claim is an ``INSERT`` that fails on the existing primary key, an invited claim an
``UPDATE … WHERE public_key IS NULL AND password_hash = <the hash just verified>``.
A version is stored in one write transaction that first reads the latest held, so two
uploads cannot both pass ``version_not_newer`` (SQLite writers are ``BEGIN IMMEDIATE``; the
unique ``(installation, version)`` backs it on any database). Lists never read the bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domogate.core.cloudclaims import CloudAuditEvent, Installation
from domogate.core.cloudversions import StoredVersion, VersionInfo, VersionReport
from domogate.core.times import iso
from domogate.storage.cloud.schema import CloudAuditRow, InstallationRow, VersionRow
from domogate.storage.sql.engine import MODE_OPTION, create_engine_for
from domogate.storage.sql.migrate import sync_url_for, upgrade_database

CLOUD_MIGRATIONS_PATH = Path(__file__).resolve().parent / "migrations"


async def open_cloud_store(database_url: str) -> SqlCloudStore:
    """Upgrade the cloud's database to the newest schema, then open a store on it."""
    await asyncio.to_thread(
        upgrade_database, sync_url_for(database_url), scripts=CLOUD_MIGRATIONS_PATH
    )
    return SqlCloudStore(database_url)


def _installation(row: InstallationRow) -> Installation:
    return Installation(
        name=row.name,
        password_hash=row.password_hash,
        public_key=row.public_key,
        invited=bool(row.invited),
        created_at=row.created_at,
        claimed_at=row.claimed_at,
        last_linked_at=row.last_linked_at,
        last_source=row.last_source,
    )


_INFO_COLUMNS = (
    VersionRow.installation,
    VersionRow.version,
    VersionRow.digest,
    VersionRow.size,
    VersionRow.published_at,
    VersionRow.publisher_key_fingerprint,
    VersionRow.stored_at,
    VersionRow.report,
)


def _report(data: Any) -> VersionReport | None:
    if not isinstance(data, dict):
        return None
    return VersionReport(
        applied=bool(data.get("applied")),
        code=data.get("code"),
        message=data.get("message"),
        at=datetime.fromisoformat(str(data["at"])),
    )


def _info(row: Any) -> VersionInfo:
    return VersionInfo(
        installation=row.installation,
        version=row.version,
        digest=row.digest,
        size=row.size,
        published_at=row.published_at,
        publisher_key_fingerprint=row.publisher_key_fingerprint,
        stored_at=row.stored_at,
        report=_report(row.report),
    )


class SqlCloudStore:
    """The cloud's store; the schema must exist (see :func:`open_cloud_store`)."""

    def __init__(self, database_url: str) -> None:
        self._engine = create_engine_for(database_url)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**{MODE_OPTION: "write"})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            yield await conn.execution_options(**{MODE_OPTION: "read"})

    async def get_installation(self, name: str) -> Installation | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(InstallationRow).where(InstallationRow.name == name))
            ).first()
        return None if row is None else _installation(row)  # type: ignore[arg-type]

    async def list_installations(self) -> list[Installation]:
        async with self._read() as conn:
            rows = (
                await conn.execute(select(InstallationRow).order_by(InstallationRow.name))
            ).all()
        return [_installation(r) for r in rows]  # type: ignore[arg-type]

    async def add_installation(self, installation: Installation) -> bool:
        values = {
            "name": installation.name,
            "password_hash": installation.password_hash,
            "public_key": installation.public_key,
            "invited": installation.invited,
            "created_at": installation.created_at,
            "claimed_at": installation.claimed_at,
            "last_linked_at": installation.last_linked_at,
            "last_source": installation.last_source,
        }
        try:
            async with self._write() as conn:
                await conn.execute(insert(InstallationRow).values(**values))
        except IntegrityError:
            return False
        return True

    async def claim_invited(
        self, name: str, public_key: str, password_hash: str, at: datetime, source: str | None
    ) -> bool:
        statement = (
            update(InstallationRow)
            .where(
                InstallationRow.name == name,
                InstallationRow.public_key.is_(None),
                InstallationRow.password_hash == password_hash,
            )
            .values(public_key=public_key, claimed_at=at, last_linked_at=at, last_source=source)
        )
        async with self._write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def touch_installation(self, name: str, at: datetime, source: str | None) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(InstallationRow)
                .where(InstallationRow.name == name)
                .values(last_linked_at=at, last_source=source)
            )

    async def release_installation(self, name: str) -> bool:
        async with self._write() as conn:
            statement = select(InstallationRow.invited, InstallationRow.public_key)
            row = (await conn.execute(statement.where(InstallationRow.name == name))).first()
            if row is None:
                return False
            if row.invited and row.public_key is not None:  # back to invited, unclaimed
                await conn.execute(
                    update(InstallationRow)
                    .where(InstallationRow.name == name)
                    .values(public_key=None, claimed_at=None, last_linked_at=None)
                )
            else:  # a claim of an open cloud, or an invitation never claimed: forgotten
                await conn.execute(delete(InstallationRow).where(InstallationRow.name == name))
        return True

    async def append_cloud_audit(self, events: Sequence[CloudAuditEvent]) -> None:
        if not events:
            return
        rows = [
            {"at": e.at, "event": e.event, "name": e.name, "source": e.source, "detail": e.detail}
            for e in events
        ]
        async with self._write() as conn:
            await conn.execute(insert(CloudAuditRow), rows)

    async def list_cloud_audit(self, *, limit: int = 200) -> list[CloudAuditEvent]:
        statement = select(CloudAuditRow).order_by(CloudAuditRow.id.desc()).limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(statement)).all()
        return [
            CloudAuditEvent(at=r.at, event=r.event, name=r.name, source=r.source, detail=r.detail)
            for r in rows
        ]

    # --- versions ----------------------------------------------------------------------

    async def add_version(self, version: StoredVersion) -> int | None:
        info = version.info
        async with self._write() as conn:
            latest = (
                await conn.execute(
                    select(func.max(VersionRow.version)).where(
                        VersionRow.installation == info.installation
                    )
                )
            ).scalar()
            if latest is not None and latest >= info.version:
                return int(latest)
            await conn.execute(
                insert(VersionRow).values(
                    installation=info.installation,
                    version=info.version,
                    digest=info.digest,
                    size=info.size,
                    published_at=info.published_at,
                    publisher_key_fingerprint=info.publisher_key_fingerprint,
                    manifest=version.manifest,
                    signature=version.signature,
                    content=version.content,
                    report=None,
                    stored_at=info.stored_at,
                )
            )
        return None

    async def list_versions(self, installation: str, *, limit: int = 100) -> list[VersionInfo]:
        statement = (
            select(*_INFO_COLUMNS)
            .where(VersionRow.installation == installation)
            .order_by(VersionRow.version.desc())
            .limit(limit)
        )
        async with self._read() as conn:
            rows = (await conn.execute(statement)).all()
        return [_info(r) for r in rows]

    async def latest_version(self, installation: str) -> VersionInfo | None:
        listed = await self.list_versions(installation, limit=1)
        return listed[0] if listed else None

    async def get_version(self, installation: str, version: int) -> StoredVersion | None:
        statement = select(
            *_INFO_COLUMNS, VersionRow.manifest, VersionRow.signature, VersionRow.content
        ).where(VersionRow.installation == installation, VersionRow.version == version)
        async with self._read() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            return None
        return StoredVersion(_info(row), row.manifest, row.signature, row.content)

    async def set_version_report(
        self, installation: str, version: int, report: VersionReport
    ) -> bool:
        data = {
            "applied": report.applied,
            "code": report.code,
            "message": report.message,
            "at": iso(report.at),
        }
        async with self._write() as conn:
            result = await conn.execute(
                update(VersionRow)
                .where(VersionRow.installation == installation, VersionRow.version == version)
                .values(report=data)
            )
        return bool(result.rowcount)

    async def close(self) -> None:
        await self._engine.dispose()
