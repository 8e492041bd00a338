"""The body of an Alembic environment driven from code, shared by the server's
(``storage/migrations/env.py``) and the cloud's (``storage/cloud/migrations/env.py``)
migrations: each ``env.py`` calls :func:`run` with its tables' metadata.

There is no ``alembic.ini``: the caller builds the configuration and passes the database
URL in ``config.attributes["database_url"]`` (or an open connection in
``config.attributes["connection"]``). Logging is left alone: no ``fileConfig``, nothing
printed. Synchronous URLs (``sqlite:///…``, ``postgresql+psycopg://…``) run on a plain
engine; async ones (``postgresql+asyncpg://…``) on an async engine in a private event loop
(the caller runs Alembic in a worker thread).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, MetaData, create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def _database_url() -> str:
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    return str(url)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=_metadata[0],
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    url = _database_url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=make_url(url).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run_on(given)
        return
    url = _database_url()
    if make_url(url).get_dialect().is_async:
        asyncio.run(_run_async(url))
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(connection)
            connection.commit()
    finally:
        engine.dispose()


_metadata: list[MetaData] = []


def run(metadata: MetaData) -> None:
    """Run the migrations Alembic asked for, on ``metadata``'s database (called by an
    ``env.py``, inside Alembic's ``context``)."""
    _metadata[:] = [metadata]
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
