"""staff cover: who stands in for someone away, over which days

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 17:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_cover",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("cover_user_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["cover_user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_cover", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_cover_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_cover_cover_user_id"), ["cover_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_cover", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_cover_cover_user_id"))
        batch_op.drop_index(batch_op.f("ix_staff_cover_user_id"))
    op.drop_table("staff_cover")
