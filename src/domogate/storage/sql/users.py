"""User rows inside a writing transaction: name uniqueness (by ``name_key``), insert, update."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domogate.core.accounts import User
from domogate.core.names import name_key
from domogate.errors import Conflict, InvalidInput, NotFound
from domogate.storage.sql.rows import user_values
from domogate.storage.sql.schema import UserRow


async def check_name_free(conn: AsyncConnection, user: User) -> None:
    if user.name is None:
        return
    key = name_key(user.name)
    if not key:
        raise InvalidInput("A user name cannot be blank.")
    other = await conn.scalar(
        select(UserRow.id).where(UserRow.name_key == key, UserRow.id != user.id).limit(1)
    )
    if other is not None:
        raise Conflict(f"The name {user.name!r} is already taken.", name=user.name)


async def insert_user(conn: AsyncConnection, user: User) -> None:
    await check_name_free(conn, user)
    await conn.execute(insert(UserRow).values(**user_values(user)))


async def update_user(
    conn: AsyncConnection, user: User, only: frozenset[str] | None = None
) -> None:
    await check_name_free(conn, user)
    values = user_values(user)
    del values["id"]
    if only is not None:
        values = {k: v for k, v in values.items() if k in only}
    result = await conn.execute(update(UserRow).where(UserRow.id == user.id).values(**values))
    if result.rowcount != 1:
        raise NotFound("Unknown user.", user_id=user.id)


async def require_user(conn: AsyncConnection, user_id: str) -> None:
    found = await conn.scalar(select(UserRow.id).where(UserRow.id == user_id))
    if found is None:
        raise NotFound("Unknown user.", user_id=user_id)
