"""SQL storage: the :class:`~domogate.services.ports.AccountStore` on SQLAlchemy (asyncio).

SQLite through ``aiosqlite`` by default (``sqlite+aiosqlite:///PATH``); the same code runs on
PostgreSQL (``postgresql+asyncpg://…``). The schema is owned by the Alembic migrations in
``storage/migrations``: :func:`open_store` upgrades the database to the newest revision
before it hands out a store.

Single use of OTPs rests on one conditional ``UPDATE … WHERE state = 'pending'`` whose row
count decides the winner, in the same transaction as the writes that depend on it. On
SQLite every writing transaction starts with ``BEGIN IMMEDIATE`` (writers queue on the
database lock, waiting up to ``busy_timeout``); on PostgreSQL the row lock taken by the
``UPDATE`` serialises competing redemptions and the loser sees zero rows.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    cast,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.engine import create_engine as create_sync_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from domogate.core.accounts import (
    AuditEvent,
    ConnectionPath,
    Device,
    OtpRecord,
    OtpState,
    ProjectVersion,
    User,
    UserOrigin,
)
from domogate.core.names import name_key
from domogate.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "MIGRATIONS_PATH",
    "Base",
    "SqlAccountStore",
    "name_key",
    "open_store",
    "sync_url_for",
    "upgrade_database",
]

MIGRATIONS_PATH = Path(__file__).resolve().parent / "migrations"
CURRENT_PROJECT_KEY = "current_project_version"

_MODE_OPTION = "domogate_mode"
_MIGRATION_LOCK = threading.Lock()


# --- column types ------------------------------------------------------------------------


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the database does with time zones.

    SQLite has no time zone type: values are stored as naive UTC text (which also keeps
    ``<``/``>`` comparisons right) and get their UTC ``tzinfo`` back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime given to the store: {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# --- tables --------------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    name_key: Mapped[str | None] = mapped_column(String(255))
    group_name: Mapped[str] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(Boolean)
    origin: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    password_hash: Mapped[str | None] = mapped_column(Text)
    allowed_paths: Mapped[str] = mapped_column(String(64))
    account_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    admin_on_server: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ux_users_name_key", "name_key", unique=True),)


class DeviceRow(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_path: Mapped[str | None] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OtpRow(Base):
    __tablename__ = "otps"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    digest: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16), index=True)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_name: Mapped[str | None] = mapped_column(String(255))
    target: Mapped[str | None] = mapped_column(String(255), index=True)
    source: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy convention


class ProjectVersionRow(Base):
    __tablename__ = "project_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deployed_by: Mapped[str] = mapped_column(String(255))


class MetaRow(Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# --- prebuilt statements for the hot paths (built once, parameters bound per call) -----------

_GET_USER = select(UserRow).where(UserRow.id == bindparam("user_id"))
_USER_BY_KEY = select(UserRow).where(UserRow.name_key == bindparam("key"))
_GET_DEVICE = select(DeviceRow).where(DeviceRow.id == bindparam("device_id"))
_TOUCH_DEVICE = (
    update(DeviceRow)
    .where(DeviceRow.id == bindparam("device_id"))
    .values(last_seen_at=bindparam("at"), last_path=bindparam("path"))
)
_GET_OTP = select(OtpRow).where(OtpRow.id == bindparam("otp_id"))
# Digests of different OTPs may collide across time (the same code issued twice): the
# pending one wins, then the newest.
_OTP_BY_DIGEST = (
    select(OtpRow)
    .where(OtpRow.digest == bindparam("digest"))
    .order_by(
        (OtpRow.state == OtpState.PENDING.value).desc(),
        OtpRow.created_at.desc(),
        OtpRow.id,
    )
    .limit(1)
)
_INSERT_AUDIT = insert(AuditRow)


# --- conversions ------------------------------------------------------------------------------


def _paths_to_text(paths: Iterable[ConnectionPath]) -> str:
    return ",".join(sorted(ConnectionPath(p).value for p in paths))


def _paths_from_text(text: str) -> frozenset[ConnectionPath]:
    return frozenset(ConnectionPath(p) for p in text.split(",") if p)


def _user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "name_key": name_key(user.name) if user.name is not None else None,
        "group_name": user.group,
        "admin": user.admin,
        "origin": UserOrigin(user.origin).value,
        "created_at": user.created_at,
        "password_hash": user.password_hash,
        "allowed_paths": _paths_to_text(user.allowed_paths),
        "account_expires_at": user.account_expires_at,
        "revoked_at": user.revoked_at,
        "admin_on_server": user.admin_set_on_server,
    }


def _user_from_row(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        group=row.group_name,
        admin=bool(row.admin),
        origin=UserOrigin(row.origin),
        created_at=row.created_at,
        password_hash=row.password_hash,
        allowed_paths=_paths_from_text(row.allowed_paths),
        account_expires_at=row.account_expires_at,
        revoked_at=row.revoked_at,
        admin_set_on_server=bool(row.admin_on_server),
    )


def _device_values(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "user_id": device.user_id,
        "name": device.name,
        "public_key": device.public_key,
        "created_at": device.created_at,
        "last_seen_at": device.last_seen_at,
        "last_path": ConnectionPath(device.last_path).value if device.last_path else None,
        "revoked_at": device.revoked_at,
    }


def _device_from_row(row: Any) -> Device:
    return Device(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        public_key=row.public_key,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        last_path=ConnectionPath(row.last_path) if row.last_path else None,
        revoked_at=row.revoked_at,
    )


def _otp_from_row(row: Any) -> OtpRecord:
    return OtpRecord(
        id=row.id,
        user_id=row.user_id,
        digest=row.digest,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=OtpState(row.state),
        sealed=bytes(row.sealed) if row.sealed is not None else None,
        finished_at=row.finished_at,
    )


def _audit_from_row(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        action=row.action,
        outcome=row.outcome,
        actor_user_id=row.actor_user_id,
        actor_name=row.actor_name,
        target=row.target,
        source=row.source,
        path=ConnectionPath(row.path) if row.path else None,
        details=dict(row.details or {}),
    )


class _Lost(Exception):
    """Internal: a conditional update matched nothing; roll the transaction back."""


# --- engine ----------------------------------------------------------------------------------


_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def _install_sqlite_events(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver: we emit BEGIN ourselves below, so
        # that writers can start with BEGIN IMMEDIATE and PRAGMAs run outside transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_MODE_OPTION)
        if mode == "write":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif mode != "read":
            connection.exec_driver_sql("BEGIN")
        # "read": single statements, each one atomic and consistent on its own in SQLite;
        # skipping BEGIN saves a round trip to the driver thread per read


def create_engine_for(database_url: str) -> AsyncEngine:
    """An async engine for ``database_url`` with domogate's connection settings."""
    engine = create_async_engine(database_url)
    if engine.dialect.name == "sqlite":
        _install_sqlite_events(engine)
    return engine


# --- migrations -----------------------------------------------------------------------------


def sync_url_for(database_url: str | URL) -> str:
    """The URL migrations run with: ``sqlite+aiosqlite`` → ``sqlite`` (pysqlite).

    Other async drivers (e.g. ``postgresql+asyncpg``) are kept: the migration environment
    runs them through an async engine of its own.
    """
    url = make_url(database_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


def _alembic_config(url: str) -> Any:
    import io

    from alembic.config import Config

    config = Config(stdout=io.StringIO())  # no ini file, nothing printed
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.attributes["database_url"] = url  # not through ConfigParser: '%' stays as is
    return config


def upgrade_database(sync_url: str, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` (blocking)."""
    from alembic import command

    url = make_url(sync_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        parent = Path(url.database).parent
        if not parent.is_dir():
            raise InvalidInput(f"The database folder {parent} does not exist.")
    with _MIGRATION_LOCK:  # alembic's ``context`` is process-global: one run at a time
        command.upgrade(_alembic_config(sync_url), revision)


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
            await conn.execution_options(**{_MODE_OPTION: "read"})
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One writing transaction: committed at the end, rolled back on any error.

        Unique and foreign-key violations come out as :class:`Conflict`.
        """
        async with self._engine.connect() as conn:
            await conn.execution_options(**{_MODE_OPTION: "write"})
            try:
                async with conn.begin():
                    yield conn
            except IntegrityError as exc:
                raise Conflict(
                    "The change conflicts with stored data (a duplicate name or id, "
                    "or an unknown user)."
                ) from exc

    # users ----------------------------------------------------------------------------

    @staticmethod
    async def _check_name_free(conn: AsyncConnection, user: User) -> None:
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

    async def _insert_user(self, conn: AsyncConnection, user: User) -> None:
        await self._check_name_free(conn, user)
        await conn.execute(insert(UserRow).values(**_user_values(user)))

    async def _update_user(
        self, conn: AsyncConnection, user: User, only: frozenset[str] | None = None
    ) -> None:
        await self._check_name_free(conn, user)
        values = _user_values(user)
        del values["id"]
        if only is not None:
            values = {k: v for k, v in values.items() if k in only}
        result = await conn.execute(update(UserRow).where(UserRow.id == user.id).values(**values))
        if result.rowcount != 1:
            raise NotFound("Unknown user.", user_id=user.id)

    @staticmethod
    async def _require_user(conn: AsyncConnection, user_id: str) -> None:
        found = await conn.scalar(select(UserRow.id).where(UserRow.id == user_id))
        if found is None:
            raise NotFound("Unknown user.", user_id=user_id)

    async def add_user(self, user: User) -> None:
        async with self._write() as conn:
            await self._insert_user(conn, user)

    async def update_user(self, user: User) -> None:
        async with self._write() as conn:
            await self._update_user(conn, user)

    async def get_user(self, user_id: str) -> User | None:
        async with self._read() as conn:
            row = (await conn.execute(_GET_USER, {"user_id": user_id})).first()
        return _user_from_row(row) if row is not None else None

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
            row = (await conn.execute(_USER_BY_KEY, {"key": key})).first()
        return _user_from_row(row) if row is not None else None

    async def list_users(self) -> list[User]:
        async with self._read() as conn:
            rows = (
                await conn.execute(select(UserRow).order_by(UserRow.created_at, UserRow.id))
            ).all()
        return [_user_from_row(r) for r in rows]

    # devices ----------------------------------------------------------------------------

    async def get_device(self, device_id: str) -> Device | None:
        async with self._read() as conn:
            row = (await conn.execute(_GET_DEVICE, {"device_id": device_id})).first()
        return _device_from_row(row) if row is not None else None

    async def get_device_and_user(self, device_id: str) -> tuple[Device, User | None] | None:
        """A device and its user through one connection (the device sign-in's hot path)."""
        if self._sync_engine is not None:
            return self._get_device_and_user_sync(device_id)
        async with self._read() as conn:
            row = (await conn.execute(_GET_DEVICE, {"device_id": device_id})).first()
            if row is None:
                return None
            device = _device_from_row(row)
            urow = (await conn.execute(_GET_USER, {"user_id": device.user_id})).first()
        return device, (_user_from_row(urow) if urow is not None else None)

    def _get_device_and_user_sync(self, device_id: str) -> tuple[Device, User | None] | None:
        assert self._sync_engine is not None
        if self._sync_reader is None:
            self._sync_reader = self._sync_engine.connect()
            self._sync_reader.exec_driver_sql("PRAGMA query_only = ON")
        conn = self._sync_reader
        try:
            row = conn.execute(_GET_DEVICE, {"device_id": device_id}).first()
            if row is None:
                return None
            device = _device_from_row(row)
            urow = conn.execute(_GET_USER, {"user_id": device.user_id}).first()
        finally:
            conn.rollback()  # end the implicit read transaction: see later commits
        return device, (_user_from_row(urow) if urow is not None else None)

    async def list_devices(self, user_id: str | None = None) -> list[Device]:
        query = select(DeviceRow).order_by(DeviceRow.created_at, DeviceRow.id)
        if user_id is not None:
            query = query.where(DeviceRow.user_id == user_id)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [_device_from_row(r) for r in rows]

    async def _insert_device(self, conn: AsyncConnection, device: Device) -> None:
        await self._require_user(conn, device.user_id)
        await conn.execute(insert(DeviceRow).values(**_device_values(device)))

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
                await self._insert_user(conn, new_user)
            await self._require_user(conn, otp.user_id)
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
            row = (await conn.execute(_OTP_BY_DIGEST, {"digest": digest})).first()
        return _otp_from_row(row) if row is not None else None

    async def get_otp(self, otp_id: str) -> OtpRecord | None:
        """One OTP by id (not part of the port; handy for maintenance and tests)."""
        async with self._read() as conn:
            row = (await conn.execute(_GET_OTP, {"otp_id": otp_id})).first()
        return _otp_from_row(row) if row is not None else None

    async def pending_otps(self) -> list[OtpRecord]:
        query = (
            select(OtpRow)
            .where(OtpRow.state == OtpState.PENDING.value)
            .order_by(OtpRow.created_at, OtpRow.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [_otp_from_row(r) for r in rows]

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
                    await self._update_user(conn, user, _PROJECT_OWNED)
                    # The admin flag only while no grant or revocation on the server has
                    # decided it, checked in this statement (a grant racing the deploy wins).
                    await conn.execute(
                        update(UserRow)
                        .where(UserRow.id == user.id, UserRow.admin_on_server.is_(False))
                        .values(admin=user.admin)
                    )
                else:
                    await self._insert_user(conn, user)

            # 4. the pointer
            moved = await conn.execute(
                update(MetaRow)
                .where(MetaRow.key == CURRENT_PROJECT_KEY)
                .values(value=str(version.version))
            )
            if moved.rowcount == 0:
                await conn.execute(
                    insert(MetaRow).values(key=CURRENT_PROJECT_KEY, value=str(version.version))
                )
            if before_commit is not None:  # fault injection (crash tests) and progress hooks
                await before_commit()

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
                await conn.execute(_INSERT_AUDIT, [_audit_params(e) for e in events])
            if touches:
                await conn.execute(
                    _TOUCH_DEVICE,
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
        return [_audit_from_row(r) for r in rows]

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


def _audit_params(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": event.at,
        "action": event.action,
        "outcome": event.outcome,
        "actor_user_id": event.actor_user_id,
        "actor_name": event.actor_name,
        "target": event.target,
        "source": event.source,
        "path": ConnectionPath(event.path).value if event.path else None,
        "details": dict(event.details),
    }
