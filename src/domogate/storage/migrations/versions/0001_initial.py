"""Initial schema: users, devices, OTPs, audit events, project versions, meta.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("name_key", sa.String(255), nullable=True),
        sa.Column("group_name", sa.String(255), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        _when("created_at", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("allowed_paths", sa.String(64), nullable=False),
        _when("account_expires_at"),
        _when("revoked_at"),
    )
    # unique among named users; NULL (a nameless slot) may repeat
    op.create_index("ux_users_name_key", "users", ["name_key"], unique=True)

    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("users.id", name="fk_devices_user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        _when("created_at", nullable=False),
        _when("last_seen_at"),
        sa.Column("last_path", sa.String(16), nullable=True),
        _when("revoked_at"),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])

    op.create_table(
        "otps",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("users.id", name="fk_otps_user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(128), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        _when("finished_at"),
    )
    op.create_index("ix_otps_user_id", "otps", ["user_id"])
    op.create_index("ix_otps_digest", "otps", ["digest"])
    op.create_index("ix_otps_state", "otps", ["state"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _when("at", nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("actor_user_id", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(255), nullable=True),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("source", sa.String(255), nullable=True),
        sa.Column("path", sa.String(16), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sqlite_autoincrement=True,  # ids never reused: paging with before_id stays right
    )
    op.create_index("ix_audit_events_actor_user_id", "audit_events", ["actor_user_id"])
    op.create_index("ix_audit_events_target", "audit_events", ["target"])

    op.create_table(
        "project_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _when("deployed_at", nullable=False),
        sa.Column("deployed_by", sa.String(255), nullable=False),
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("project_versions")
    op.drop_index("ix_audit_events_target", table_name="audit_events")
    op.drop_index("ix_audit_events_actor_user_id", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_otps_state", table_name="otps")
    op.drop_index("ix_otps_digest", table_name="otps")
    op.drop_index("ix_otps_user_id", table_name="otps")
    op.drop_table("otps")
    op.drop_index("ix_devices_user_id", table_name="devices")
    op.drop_table("devices")
    op.drop_index("ux_users_name_key", table_name="users")
    op.drop_table("users")
