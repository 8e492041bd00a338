"""Migrations: the Alembic runner (no ``alembic.ini``; scripts in ``storage/migrations``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from domogate.errors import InvalidInput

MIGRATIONS_PATH = Path(__file__).resolve().parent.parent / "migrations"

_MIGRATION_LOCK = threading.Lock()

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


def _alembic_config(url: str, scripts: Path = MIGRATIONS_PATH) -> Any:
    import io

    from alembic.config import Config

    config = Config(stdout=io.StringIO())  # no ini file, nothing printed
    config.set_main_option("script_location", str(scripts))
    config.attributes["database_url"] = url  # not through ConfigParser: '%' stays as is
    return config


def upgrade_database(
    sync_url: str, revision: str = "head", *, scripts: Path = MIGRATIONS_PATH
) -> None:
    """Run the Alembic migrations up to ``revision`` (blocking); ``scripts``: which
    migrations folder (the server's, or the cloud's ``storage/cloud/migrations``)."""
    from alembic import command

    url = make_url(sync_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        parent = Path(url.database).parent
        if not parent.is_dir():
            raise InvalidInput(f"The database folder {parent} does not exist.")
    with _MIGRATION_LOCK:  # alembic's ``context`` is process-global: one run at a time
        command.upgrade(_alembic_config(sync_url, scripts), revision)
