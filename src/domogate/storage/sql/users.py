"""User rows inside a writing transaction: name uniqueness (by ``name_key``), insert, update."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domogate.core.accounts import User
from domogate.core.names import name_key, name_taken
from domogate.errors import InvalidInput, NotFound
from domogate.storage.sql.rows import user_values
from domogate.storage.sql.schema import UserRow


async def check_name_free(conn: AsyncConnection, user: User) -> None:
    """The one check that ``user``'s name is no other user's (``name_taken`` otherwise).

    Every write of a user's name goes through it, in the writing transaction; the unique
    index on ``name_key`` stays as the last guard against a race.
    """
    if user.name is None:
        return
    key = name_key(user.name)
    if not key:
        raise InvalidInput("A user name cannot be blank.")
    other = await conn.scalar(
        select(UserRow.id).where(UserRow.name_key == key, UserRow.id != user.id).limit(1)
    )
    if other is not None:
        raise name_taken(user.name)


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
