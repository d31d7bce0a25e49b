"""who holds an escalation now (acknowledged or handed over), and who reported what it is about

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reported_by", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_escalation_held_by"), ["held_by"], unique=False)
        batch_op.create_foreign_key("fk_escalation_held_by_app_user", "app_user", ["held_by"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key(
            "fk_escalation_reported_by_app_user", "app_user", ["reported_by"], ["id"], ondelete="SET NULL"
        )
    # Whoever acknowledged an escalation holds it; one about an observation was reported by its filer.
    op.execute("UPDATE escalation SET held_by = acknowledged_by WHERE acknowledged_by IS NOT NULL")
    op.execute(
        "UPDATE escalation SET reported_by = (SELECT observation.filed_by FROM observation"
        " WHERE CAST(observation.id AS VARCHAR(64)) = escalation.subject_id) WHERE subject_type = 'observation'"
    )


def downgrade() -> None:
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_constraint("fk_escalation_reported_by_app_user", type_="foreignkey")
        batch_op.drop_constraint("fk_escalation_held_by_app_user", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_escalation_held_by"))
        batch_op.drop_column("reported_by")
        batch_op.drop_column("held_by")
