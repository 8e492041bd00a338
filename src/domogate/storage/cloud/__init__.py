"""The cloud's database (``domogate cloud serve``): installation names and their claims,
the cloud's audit trail. SQLAlchemy 2 async; SQLite in the cloud's data folder by default
(any SQLAlchemy async URL, e.g. PostgreSQL, later). The schema is owned by the Alembic
migrations in ``storage/cloud/migrations``, applied by :func:`open_cloud_store`."""

from domogate.storage.cloud.store import SqlCloudStore, open_cloud_store

__all__ = ["SqlCloudStore", "open_cloud_store"]
