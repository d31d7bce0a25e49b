"""retention and legal holds

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legal_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.Integer(), nullable=True),
        sa.Column("placed_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.Integer(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["placed_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["released_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legal_hold", schema=None) as batch_op:
        batch_op.create_index("ix_legal_hold_subject", ["subject_type", "subject_id"], unique=False)
    op.create_table(
        "retention_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ran_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("more", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("retention_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_run_ran_at"), ["ran_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("retention_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_run_ran_at"))
    op.drop_table("retention_run")
    with op.batch_alter_table("legal_hold", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_hold_subject")
    op.drop_table("legal_hold")
