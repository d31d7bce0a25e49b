"""the level the report about an incident's person was graded at

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident_person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_level", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident_person", schema=None) as batch_op:
        batch_op.drop_column("risk_level")
