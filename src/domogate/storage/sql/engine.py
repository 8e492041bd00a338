"""The async engine: domogate's connection settings (SQLite pragmas, transaction modes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MODE_OPTION = "domogate_mode"
"""Execution option: ``"write"`` starts with ``BEGIN IMMEDIATE`` on SQLite, ``"read"`` runs
single statements without an explicit transaction."""


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
        mode = connection.get_execution_options().get(MODE_OPTION)
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
