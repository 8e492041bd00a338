"""Alembic environment for the cloud's database (``domogate cloud serve``), driven from code
by :func:`domogate.storage.cloud.store.open_cloud_store`; the body is
:mod:`domogate.storage.sql.alembic_env`."""

from __future__ import annotations

from domogate.storage.cloud.schema import CloudBase
from domogate.storage.sql.alembic_env import run

run(CloudBase.metadata)
