"""Inspection rounds (安全检查): one place's checklist walked once per period, with what was found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class InspectionRound(Base):
    """One round at one place (East Block 1's dorm inspection in 2026-12): opened on schedule, due by a
    time, done with every item ticked, or missed."""

    __tablename__ = "inspection_round"
    __table_args__ = (
        UniqueConstraint("place_code", "place_kind", "period"),
        Index("ix_inspection_round_status_due", "status", "due_at"),
        Index("ix_inspection_round_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),
        Index("ix_inspection_round_period", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    place_code: Mapped[str] = mapped_column(String(32))
    place_kind: Mapped[str] = mapped_column(String(16))
    # Scope: the unit whose inspector walks it (the building for a dorm, else the school).
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(255))
    inspector_role: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10))
    # Who walked it, when they started and when they handed it in; done after its due time is late.
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every item as ticked: [{"code", "ok", "note", "floor", "hazard_id"}], in checklist order.
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    # The place's point (WGS-84) when the round was opened: where its hazards are put on the map.
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    hazard_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
