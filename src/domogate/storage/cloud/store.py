"""``SqlCloudStore``: :class:`~domogate.services.ports.CloudStore` over SQLAlchemy async.

Claims are conditional statements, so two servers racing for one name cannot both win:
an open claim is an ``INSERT`` that fails on the existing primary key, an invited claim an
``UPDATE … WHERE public_key IS NULL AND password_hash = <the hash just verified>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domogate.core.cloudclaims import CloudAuditEvent, Installation
from domogate.storage.cloud.schema import CloudAuditRow, InstallationRow
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

    async def close(self) -> None:
        await self._engine.dispose()
