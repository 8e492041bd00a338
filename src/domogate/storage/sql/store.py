"""The store: :class:`~domogate.services.ports.AccountStore` on SQLAlchemy (asyncio).

Single use of OTPs rests on one conditional ``UPDATE … WHERE state = 'pending'`` whose row
count decides the winner, in the same transaction as the writes that depend on it. On
SQLite every writing transaction starts with ``BEGIN IMMEDIATE`` (writers queue on the
database lock, waiting up to ``busy_timeout``); on PostgreSQL the row lock taken by the
``UPDATE`` serialises competing redemptions and the loser sees zero rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import Integer, cast, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine import create_engine as create_sync_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

from domogate.core.accounts import (
    AuditEvent,
    ConnectionPath,
    Device,
    OtpRecord,
    OtpState,
    ProjectVersion,
    User,
)
from domogate.core.names import name_key
from domogate.errors import Conflict, InvalidInput
from domogate.storage.sql.engine import MODE_OPTION, create_engine_for
from domogate.storage.sql.meta import put_meta, read_meta
from domogate.storage.sql.migrate import sync_url_for, upgrade_database
from domogate.storage.sql.rows import (
    GET_DEVICE,
    GET_OTP,
    GET_USER,
    INSERT_AUDIT,
    OTP_BY_DIGEST,
    TOUCH_DEVICE,
    USER_BY_KEY,
    audit_from_row,
    audit_params,
    device_from_row,
    device_values,
    otp_from_row,
    user_from_row,
)
from domogate.storage.sql.schema import (
    CURRENT_PROJECT_KEY,
    AuditRow,
    DeviceRow,
    MetaRow,
    OtpRow,
    ProjectVersionRow,
    UserRow,
)
from domogate.storage.sql.users import check_name_free, insert_user, require_user, update_user


class _Lost(Exception):
    """Internal: a conditional update matched nothing; roll the transaction back."""


async def open_store(database_url: str) -> SqlAccountStore:
    """Upgrade the database to the newest schema, then open a store on it."""
    await asyncio.to_thread(upgrade_database, sync_url_for(database_url))
    return SqlAccountStore(database_url)


# --- the store ------------------------------------------------------------------------------


class SqlAccountStore:
    """:class:`~domogate.services.ports.AccountStore` over SQLAlchemy's async engine.

    The schema must exist already (see :func:`open_store`).
    """

    def __init__(self, database_url: str) -> None:
        self._engine = create_engine_for(database_url)
        # SQLite point reads by primary key take tens of microseconds: on the hot path
        # (device sign-in) they run directly on the event loop through one sync
        # connection, instead of paying aiosqlite's thread hops (about 1 ms a read).
        self._sync_reader: Connection | None = None
        if self._engine.dialect.name == "sqlite":
            sync_engine = create_sync_engine(
                sync_url_for(database_url),
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
            )
            self._sync_engine: Engine | None = sync_engine
        else:
            self._sync_engine = None

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # transactions -------------------------------------------------------------------------

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for ONE reading statement (no explicit transaction on SQLite)."""
        async with self._engine.connect() as conn:
            await conn.execution_options(**{MODE_OPTION: "read"})
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One writing transaction: committed at the end, rolled back on any error.

        Unique and foreign-key violations come out as :class:`Conflict`.
        """
        async with self._engine.connect() as conn:
            await conn.execution_options(**{MODE_OPTION: "write"})
            try:
                async with conn.begin():
                    yield conn
            except IntegrityError as exc:
                raise Conflict(
                    "The change conflicts with stored data (a duplicate name or id, "
                    "or an unknown user)."
                ) from exc

    # users ----------------------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        async with self._write() as conn:
            await insert_user(conn, user)

    async def update_user(self, user: User) -> None:
        async with self._write() as conn:
            await update_user(conn, user)

    async def get_user(self, user_id: str) -> User | None:
        async with self._read() as conn:
            row = (await conn.execute(GET_USER, {"user_id": user_id})).first()
        return user_from_row(row) if row is not None else None

    async def revoke_user(self, user_id: str, at: datetime) -> None:
        """Mark the user revoked (keeping the first revocation time); nothing else changes."""
        async with self._write() as conn:
            await conn.execute(
                update(UserRow)
                .where(UserRow.id == user_id, UserRow.revoked_at.is_(None))
                .values(revoked_at=at)
            )

    async def find_user_by_name(self, name: str) -> User | None:
        key = name_key(name)
        if not key:
            return None
        async with self._read() as conn:
            row = (await conn.execute(USER_BY_KEY, {"key": key})).first()
        return user_from_row(row) if row is not None else None

    async def list_users(self) -> list[User]:
        async with self._read() as conn:
            rows = (
                await conn.execute(select(UserRow).order_by(UserRow.created_at, UserRow.id))
            ).all()
        return [user_from_row(r) for r in rows]

    # devices ----------------------------------------------------------------------------

    async def get_device(self, device_id: str) -> Device | None:
        async with self._read() as conn:
            row = (await conn.execute(GET_DEVICE, {"device_id": device_id})).first()
        return device_from_row(row) if row is not None else None

    async def get_device_and_user(self, device_id: str) -> tuple[Device, User | None] | None:
        """A device and its user through one connection (the device sign-in's hot path)."""
        if self._sync_engine is not None:
            return self._get_device_and_user_sync(device_id)
        async with self._read() as conn:
            row = (await conn.execute(GET_DEVICE, {"device_id": device_id})).first()
            if row is None:
                return None
            device = device_from_row(row)
            urow = (await conn.execute(GET_USER, {"user_id": device.user_id})).first()
        return device, (user_from_row(urow) if urow is not None else None)

    def _get_device_and_user_sync(self, device_id: str) -> tuple[Device, User | None] | None:
        assert self._sync_engine is not None
        if self._sync_reader is None:
            self._sync_reader = self._sync_engine.connect()
            self._sync_reader.exec_driver_sql("PRAGMA query_only = ON")
        conn = self._sync_reader
        try:
            row = conn.execute(GET_DEVICE, {"device_id": device_id}).first()
            if row is None:
                return None
            device = device_from_row(row)
            urow = conn.execute(GET_USER, {"user_id": device.user_id}).first()
        finally:
            conn.rollback()  # end the implicit read transaction: see later commits
        return device, (user_from_row(urow) if urow is not None else None)

    async def list_devices(self, user_id: str | None = None) -> list[Device]:
        query = select(DeviceRow).order_by(DeviceRow.created_at, DeviceRow.id)
        if user_id is not None:
            query = query.where(DeviceRow.user_id == user_id)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [device_from_row(r) for r in rows]

    async def _insert_device(self, conn: AsyncConnection, device: Device) -> None:
        await require_user(conn, device.user_id)
        await conn.execute(insert(DeviceRow).values(**device_values(device)))

    async def add_device(self, device: Device) -> None:
        async with self._write() as conn:
            await self._insert_device(conn, device)

    async def revoke_devices(self, device_ids: Sequence[str], at: datetime) -> None:
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return
        async with self._write() as conn:
            await conn.execute(
                update(DeviceRow)
                .where(DeviceRow.id.in_(ids), DeviceRow.revoked_at.is_(None))
                .values(revoked_at=at)
            )

    # OTPs -------------------------------------------------------------------------------

    async def add_otp(self, otp: OtpRecord, new_user: User | None = None) -> None:
        if otp.state is not OtpState.PENDING:
            raise InvalidInput("Only a pending OTP can be added.")
        async with self._write() as conn:
            if new_user is not None:  # a new slot and its OTP: one transaction, all or nothing
                await insert_user(conn, new_user)
            await require_user(conn, otp.user_id)
            await conn.execute(
                update(OtpRow)
                .where(OtpRow.user_id == otp.user_id, OtpRow.state == OtpState.PENDING.value)
                .values(state=OtpState.REPLACED.value, sealed=None, finished_at=otp.created_at)
            )
            await conn.execute(
                insert(OtpRow).values(
                    id=otp.id,
                    user_id=otp.user_id,
                    digest=otp.digest,
                    created_at=otp.created_at,
                    expires_at=otp.expires_at,
                    state=OtpState.PENDING.value,
                    sealed=otp.sealed,
                    finished_at=None,
                )
            )

    async def find_otp_by_digest(self, digest: str) -> OtpRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(OTP_BY_DIGEST, {"digest": digest})).first()
        return otp_from_row(row) if row is not None else None

    async def get_otp(self, otp_id: str) -> OtpRecord | None:
        """One OTP by id (not part of the port; handy for maintenance and tests)."""
        async with self._read() as conn:
            row = (await conn.execute(GET_OTP, {"otp_id": otp_id})).first()
        return otp_from_row(row) if row is not None else None

    async def pending_otps(self) -> list[OtpRecord]:
        query = (
            select(OtpRow)
            .where(OtpRow.state == OtpState.PENDING.value)
            .order_by(OtpRow.created_at, OtpRow.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [otp_from_row(r) for r in rows]

    async def finish_otp(self, otp_id: str, state: OtpState, at: datetime) -> bool:
        if state is OtpState.PENDING:
            raise InvalidInput("An OTP cannot be finished into the pending state.")
        async with self._write() as conn:
            result = await conn.execute(
                update(OtpRow)
                .where(OtpRow.id == otp_id, OtpRow.state == OtpState.PENDING.value)
                .values(state=OtpState(state).value, sealed=None, finished_at=at)
            )
            return result.rowcount == 1

    async def redeem_otp(self, otp_id: str, at: datetime, user: User, device: Device) -> bool:
        """See the port. The OTP must also belong to ``user`` (else False, nothing changed)."""
        if device.user_id != user.id:
            raise InvalidInput("The device does not belong to the user redeeming the OTP.")
        try:
            async with self._write() as conn:
                await check_name_free(conn, user)
                result = await conn.execute(
                    update(OtpRow)
                    .where(
                        OtpRow.id == otp_id,
                        OtpRow.user_id == user.id,
                        OtpRow.state == OtpState.PENDING.value,
                        OtpRow.expires_at > at,
                    )
                    .values(state=OtpState.USED.value, sealed=None, finished_at=at)
                )
                if result.rowcount != 1:
                    raise _Lost
                # Only the name changes, and only while the user is not revoked: a stale
                # copy of the user must never undo a concurrent revocation.
                named = await conn.execute(
                    update(UserRow)
                    .where(UserRow.id == user.id, UserRow.revoked_at.is_(None))
                    .values(name=user.name, name_key=name_key(user.name) if user.name else None)
                )
                if named.rowcount != 1:
                    raise _Lost
                await self._insert_device(conn, device)
        except _Lost:
            return False
        return True

    # project ----------------------------------------------------------------------------

    async def current_project(self) -> ProjectVersion | None:
        current = (
            select(cast(MetaRow.value, Integer))
            .where(MetaRow.key == CURRENT_PROJECT_KEY)
            .scalar_subquery()
        )
        query = select(ProjectVersionRow).where(ProjectVersionRow.version == current)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return ProjectVersion(
            version=row.version,
            data=dict(row.data),
            deployed_at=row.deployed_at,
            deployed_by=row.deployed_by,
        )

    async def deploy_project(
        self,
        version: ProjectVersion,
        upsert_users: Sequence[User],
        delete_user_ids: Sequence[str],
        before_commit: Callable[[], Awaitable[None]] | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        upsert_ids = [u.id for u in upsert_users]
        if len(set(upsert_ids)) != len(upsert_ids):
            raise InvalidInput("The same user appears twice in a deployment.")
        delete_ids = list(dict.fromkeys(delete_user_ids))
        if set(delete_ids) & set(upsert_ids):
            raise InvalidInput("A user cannot be both kept and deleted by a deployment.")

        async with self._write() as conn:
            # 1. the version row (a redeployed number replaces its row)
            values = {
                "data": version.data,
                "deployed_at": version.deployed_at,
                "deployed_by": version.deployed_by,
            }
            replaced = await conn.execute(
                update(ProjectVersionRow)
                .where(ProjectVersionRow.version == version.version)
                .values(**values)
            )
            if replaced.rowcount == 0:
                await conn.execute(
                    insert(ProjectVersionRow).values(version=version.version, **values)
                )

            # 2. users that leave, with their devices and OTPs
            if delete_ids:
                await conn.execute(delete(OtpRow).where(OtpRow.user_id.in_(delete_ids)))
                await conn.execute(delete(DeviceRow).where(DeviceRow.user_id.in_(delete_ids)))
                await conn.execute(delete(UserRow).where(UserRow.id.in_(delete_ids)))

            # 3. users that stay or arrive; names are released first so that users may
            #    swap names within one deployment
            existing: set[str] = set()
            if upsert_ids:
                existing = set(
                    (await conn.scalars(select(UserRow.id).where(UserRow.id.in_(upsert_ids)))).all()
                )
            if existing:
                await conn.execute(
                    update(UserRow).where(UserRow.id.in_(existing)).values(name_key=None)
                )
            for user in upsert_users:
                if user.id in existing:
                    # What the project owns; never revocation or expiry (which a
                    # concurrent admin action may have just changed).
                    await update_user(conn, user, _PROJECT_OWNED)
                    # The admin flag only while no grant or revocation on the server has
                    # decided it, checked in this statement (a grant racing the deploy wins).
                    await conn.execute(
                        update(UserRow)
                        .where(UserRow.id == user.id, UserRow.admin_on_server.is_(False))
                        .values(admin=user.admin)
                    )
                else:
                    await insert_user(conn, user)

            # 4. the pointer, and what moves with it
            await put_meta(conn, CURRENT_PROJECT_KEY, str(version.version), pointer=True)
            for key, value in (meta or {}).items():
                await put_meta(conn, key, value)
            if before_commit is not None:  # fault injection (crash tests) and progress hooks
                await before_commit()

    async def get_meta(self, key: str) -> str | None:
        async with self._read() as conn:
            return await read_meta(conn, key)

    async def set_meta(self, key: str, value: str) -> None:
        async with self._write() as conn:
            await put_meta(conn, key, value)

    # audit ------------------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> None:
        await self.write_activity([event])

    async def write_activity(
        self,
        events: Sequence[AuditEvent],
        touches: Sequence[tuple[str, datetime, ConnectionPath]] = (),
    ) -> None:
        """Audit events and device last-seen updates, in one transaction."""
        if not events and not touches:
            return
        async with self._write() as conn:
            if events:
                await conn.execute(INSERT_AUDIT, [audit_params(e) for e in events])
            if touches:
                await conn.execute(
                    TOUCH_DEVICE,
                    [
                        {"device_id": d, "at": at, "path": ConnectionPath(path).value}
                        for d, at, path in touches
                    ],
                )

    async def prune_audit(self, before: datetime, keep_newest: int) -> int:
        async with self._write() as conn:
            deleted = (await conn.execute(delete(AuditRow).where(AuditRow.at < before))).rowcount
            newest = await conn.scalar(select(func.max(AuditRow.id)))
            if newest is not None and keep_newest >= 0:
                deleted += (
                    await conn.execute(delete(AuditRow).where(AuditRow.id <= newest - keep_newest))
                ).rowcount
        return int(deleted or 0)

    async def list_audit(
        self, *, limit: int = 200, user_id: str | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        if limit <= 0:
            return []
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(or_(AuditRow.actor_user_id == user_id, AuditRow.target == user_id))
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [audit_from_row(r) for r in rows]

    async def count_audit(self) -> int:
        """Number of audit events stored (not part of the port)."""
        async with self._read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(AuditRow)) or 0)

    # lifetime ----------------------------------------------------------------------------

    async def close(self) -> None:
        if self._sync_reader is not None:
            self._sync_reader.close()
            self._sync_reader = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        await self._engine.dispose()


# Not "admin": the project owns it until the server decides it (see deploy_project).
_PROJECT_OWNED = frozenset({"name", "name_key", "group_name", "password_hash", "origin"})
