"""SQL storage: the :class:`~domogate.services.ports.AccountStore` on SQLAlchemy (asyncio).

SQLite through ``aiosqlite`` by default (``sqlite+aiosqlite:///PATH``); the same code runs on
PostgreSQL (``postgresql+asyncpg://…``). The schema is owned by the Alembic migrations in
``storage/migrations``: :func:`open_store` upgrades the database to the newest revision
before it hands out a store.

Modules: ``schema`` (column types, tables), ``rows`` (row ↔ record conversions, prebuilt
statements), ``engine`` (connection settings), ``migrate`` (the Alembic runner), ``store``
(:class:`SqlAccountStore`, :func:`open_store`).
"""

from __future__ import annotations

from domogate.core.names import name_key
from domogate.storage.sql.migrate import MIGRATIONS_PATH, sync_url_for, upgrade_database
from domogate.storage.sql.schema import Base
from domogate.storage.sql.store import SqlAccountStore, open_store

__all__ = [
    "MIGRATIONS_PATH",
    "Base",
    "SqlAccountStore",
    "name_key",
    "open_store",
    "sync_url_for",
    "upgrade_database",
]
