"""Recompute user name keys: spaces and invisible characters no longer make another name.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``name_key`` used to be NFKC + case-folded + trimmed; it now also drops every space and
invisible format character inside the name (``domogate.core.names.name_key``). Two stored
names that the new rule makes one (``"ann e"`` and ``"anne"``) cannot both keep it: the
older account keeps the key and the newer one gets a key no typed name can produce, so it
can no longer be found by name (an administrator renames or revokes it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domogate.core.names import name_key

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_users = sa.table(
    "users",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
    sa.column("created_at", sa.DateTime),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_users.c.id, _users.c.name)
        .where(_users.c.name.is_not(None))
        .order_by(_users.c.created_at, _users.c.id)
    ).all()
    # Clear first: the unique index must not see a half-recomputed table.
    conn.execute(sa.update(_users).values(name_key=None))
    taken: set[str] = set()
    for user_id, name in rows:
        key = name_key(name)
        if not key or key in taken:
            key = f"\x00clash:{user_id}"
        taken.add(key)
        conn.execute(sa.update(_users).where(_users.c.id == user_id).values(name_key=key))


def downgrade() -> None:
    """Keys computed by the new rule still find every name the old rule found, except names
    with inner spaces; nothing to undo in the schema."""
