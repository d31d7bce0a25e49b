"""opinion reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED = ("discovered_at", "filed_by", "grade", "status", "unit_id")


def upgrade() -> None:
    op.create_table(
        "opinion_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("platforms", sa.JSON(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("trend", sa.String(length=40), nullable=True),
        sa.Column("discovered_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filed_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("grade", sa.String(length=10), nullable=False),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("first_report_due_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("breached_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("late_seconds", sa.Integer(), nullable=True),
        sa.Column("closed_at", riskcontrol.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["closed_by"], ["app_user.id"], name=op.f("fk_opinion_report_closed_by_app_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["escalation_id"], ["escalation.id"], name=op.f("fk_opinion_report_escalation_id_escalation"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["filed_by"], ["app_user.id"], name=op.f("fk_opinion_report_filed_by_app_user"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"], ["app_user.id"], name=op.f("fk_opinion_report_reported_by_app_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_unit.id"], name=op.f("fk_opinion_report_unit_id_org_unit"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opinion_report")),
        sa.UniqueConstraint("filed_by", "client_id", name=op.f("uq_opinion_report_filed_by_client_id")),
    )
    for column in INDEXED:
        op.create_index(op.f(f"ix_opinion_report_{column}"), "opinion_report", [column], unique=False)


def downgrade() -> None:
    for column in INDEXED:
        op.drop_index(op.f(f"ix_opinion_report_{column}"), table_name="opinion_report")
    op.drop_table("opinion_report")
