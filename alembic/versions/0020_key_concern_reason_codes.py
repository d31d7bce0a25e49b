"""key-concern reasons as codes of the one catalogue

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("key_concern", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_codes", sa.JSON(), nullable=True))
    # Entries from before had their reasons in words only: no code.
    op.execute("UPDATE key_concern SET reason_codes = '[]'")
    with op.batch_alter_table("key_concern", schema=None) as batch_op:
        batch_op.alter_column("reason_codes", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("key_concern", schema=None) as batch_op:
        batch_op.drop_column("reason_codes")
