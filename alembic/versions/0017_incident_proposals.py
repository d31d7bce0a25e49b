"""incident proposals: incidents a warning may call for, waiting for a person to confirm

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("unit_path", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=True),
        sa.Column("student_id", sa.Integer(), nullable=True),
        sa.Column("filed_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("proposed_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["org_unit.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["filed_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "source_id", name="uq_incident_proposal_source"),
    )
    with op.batch_alter_table("incident_proposal", schema=None) as batch_op:
        batch_op.create_index("ix_incident_proposal_status", ["status", "proposed_at"], unique=False)
        batch_op.create_index(
            "ix_incident_proposal_unit_path", ["unit_path"], unique=False, postgresql_ops={"unit_path": "varchar_pattern_ops"}
        )
        batch_op.create_index(batch_op.f("ix_incident_proposal_unit_id"), ["unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_proposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_proposal_unit_id"))
        batch_op.drop_index("ix_incident_proposal_unit_path")
        batch_op.drop_index("ix_incident_proposal_status")
    op.drop_table("incident_proposal")
