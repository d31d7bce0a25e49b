"""key-concern register and talk records

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One active entry per student; closed ones stay as history.
ACTIVE_ONLY = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "key_concern",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("counselor_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("started_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("review_on", sa.Date(), nullable=False),
        sa.Column("last_talk_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_talk_due_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["added_by"], ["app_user.id"], name=op.f("fk_key_concern_added_by_app_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["closed_by"], ["app_user.id"], name=op.f("fk_key_concern_closed_by_app_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["counselor_id"], ["app_user.id"], name=op.f("fk_key_concern_counselor_id_app_user"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], name=op.f("fk_key_concern_student_id_student"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_concern")),
    )
    with op.batch_alter_table("key_concern", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_concern_counselor_id"), ["counselor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_key_concern_student_id"), ["student_id"], unique=False)
        batch_op.create_index("ix_key_concern_status_due", ["status", "next_talk_due_at"], unique=False)
        batch_op.create_index(
            "uq_key_concern_active_student", ["student_id"], unique=True, sqlite_where=ACTIVE_ONLY, postgresql_where=ACTIVE_ONLY
        )

    op.create_table(
        "talk_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_concern_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("counselor_id", sa.Integer(), nullable=False),
        sa.Column("talked_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("risk_change", sa.String(length=8), nullable=False),
        sa.Column("next_due_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["counselor_id"], ["app_user.id"], name=op.f("fk_talk_record_counselor_id_app_user"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["key_concern_id"], ["key_concern.id"], name=op.f("fk_talk_record_key_concern_id_key_concern"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], name=op.f("fk_talk_record_student_id_student"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talk_record")),
    )
    with op.batch_alter_table("talk_record", schema=None) as batch_op:
        batch_op.create_index("ix_talk_record_concern_talked", ["key_concern_id", "talked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_talk_record_student_id"), ["student_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("talk_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_talk_record_student_id"))
        batch_op.drop_index("ix_talk_record_concern_talked")
    op.drop_table("talk_record")

    with op.batch_alter_table("key_concern", schema=None) as batch_op:
        batch_op.drop_index("uq_key_concern_active_student", sqlite_where=ACTIVE_ONLY, postgresql_where=ACTIVE_ONLY)
        batch_op.drop_index("ix_key_concern_status_due")
        batch_op.drop_index(batch_op.f("ix_key_concern_student_id"))
        batch_op.drop_index(batch_op.f("ix_key_concern_counselor_id"))
    op.drop_table("key_concern")
