"""Alembic environment for domogate's database (the server's), driven from code by
:func:`domogate.storage.sql.migrate.upgrade_database`; the body is
:mod:`domogate.storage.sql.alembic_env`."""

from __future__ import annotations

from domogate.storage.sql.alembic_env import run
from domogate.storage.sql.schema import Base

run(Base.metadata)
