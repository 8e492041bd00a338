"""Remember when a user's admin flag was decided on the server.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``users.admin_on_server`` is set by a grant or revocation on the server (maintenance page,
``domogate server admin grant|revoke``); a redeploy then keeps the flag instead of taking
the project's. Existing users start with it unset: the project's flag applies as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("admin_on_server", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("admin_on_server")
