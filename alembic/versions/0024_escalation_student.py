"""the student an escalation is about, for the disclosure policy

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 20:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("student_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_escalation_student_id"), ["student_id"], unique=False)
        batch_op.create_foreign_key("fk_escalation_student_id_student", "student", ["student_id"], ["id"], ondelete="SET NULL")
    # Escalations about an observation are about its student.
    op.execute(
        "UPDATE escalation SET student_id = (SELECT observation.student_id FROM observation"
        " WHERE CAST(observation.id AS VARCHAR(64)) = escalation.subject_id) WHERE subject_type = 'observation'"
    )


def downgrade() -> None:
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_constraint("fk_escalation_student_id_student", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_escalation_student_id"))
        batch_op.drop_column("student_id")
