"""data subject requests

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "correction_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("record", sa.String(length=200), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("received_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recorded_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("correction_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correction_request_student_id"), ["student_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("correction_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_correction_request_student_id"))
    op.drop_table("correction_request")
