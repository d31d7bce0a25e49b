"""The org unit table: one row per school, college, class, building or dorm room."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base


class OrgUnit(Base):
    """A node of the campus grid, with a materialized path for subtree queries."""

    __tablename__ = "org_unit"
    __table_args__ = (Index("ix_org_unit_path_prefix", "path", postgresql_ops={"path": "varchar_pattern_ops"}),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(String(255), default="")
    depth: Mapped[int] = mapped_column(Integer, default=0)
