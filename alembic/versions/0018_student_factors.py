"""student risk factors imported from the student-affairs systems

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "student_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("dated", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("imported_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["imported_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("student_id", "code", "source", "dated", name="uq_student_factor_natural"),
    )
    with op.batch_alter_table("student_factor", schema=None) as batch_op:
        batch_op.create_index("ix_student_factor_student_expires", ["student_id", "expires_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_student_factor_student_id"), ["student_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("student_factor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_student_factor_student_id"))
        batch_op.drop_index("ix_student_factor_student_expires")
    op.drop_table("student_factor")
