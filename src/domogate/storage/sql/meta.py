"""The ``meta`` table: server-wide values by key (the current project version, the pinned
publisher key, the published version, the last local deploy), read and written inside a
caller's connection or transaction."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domogate.storage.sql.schema import CURRENT_PROJECT_KEY, MetaRow


async def read_meta(conn: AsyncConnection, key: str) -> str | None:
    value = await conn.scalar(select(MetaRow.value).where(MetaRow.key == key))
    return None if value is None else str(value)


async def put_meta(conn: AsyncConnection, key: str, value: str, *, pointer: bool = False) -> None:
    """Insert or replace ``key``; the current project's pointer only with ``pointer``
    (a deploy moves it, nothing else)."""
    if key == CURRENT_PROJECT_KEY and not pointer:
        raise ValueError("the current project moves only with a deploy")
    moved = await conn.execute(update(MetaRow).where(MetaRow.key == key).values(value=value))
    if moved.rowcount == 0:
        await conn.execute(insert(MetaRow).values(key=key, value=value))
