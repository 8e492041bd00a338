"""The cloud's initial schema: installations and cloud_audit.

Revision ID: c0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "installations",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("public_key", sa.String(64), nullable=True),
        sa.Column("invited", sa.Boolean(), nullable=False),
        _when("created_at", nullable=False),
        _when("claimed_at"),
        _when("last_linked_at"),
        sa.Column("last_source", sa.String(64), nullable=True),
    )
    op.create_table(
        "cloud_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _when("at", nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("name", sa.String(63), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cloud_audit_at", "cloud_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_cloud_audit_at", table_name="cloud_audit")
    op.drop_table("cloud_audit")
    op.drop_table("installations")
