"""prevention rounds: late sign-offs, people covered, and an index by period

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("measure_round", schema=None) as batch_op:
        # Rounds already signed off were not marked late; the default fills them, then goes.
        batch_op.add_column(sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("covered", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("population", sa.Integer(), nullable=True))
        batch_op.create_index("ix_measure_round_period", ["period"], unique=False)
    with op.batch_alter_table("measure_round", schema=None) as batch_op:
        batch_op.alter_column("late", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("measure_round", schema=None) as batch_op:
        batch_op.drop_index("ix_measure_round_period")
        batch_op.drop_column("population")
        batch_op.drop_column("covered")
        batch_op.drop_column("late")
