"""The hazard ledger (隐患台账) with its change history, and the high-risk zones of the risk map."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class Hazard(Base):
    """One hidden danger, from report to on-site acceptance and striking off (销号)."""

    __tablename__ = "hazard"
    __table_args__ = (
        Index("ix_hazard_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),
        Index("ix_hazard_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text, default="")
    # GeoJSON geometry in WGS-84 (a Point or a Polygon); lon/lat is the point or the polygon's centroid.
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    place: Mapped[str] = mapped_column(String(40), default="")
    building: Mapped[str] = mapped_column(String(100), default="")
    floor: Mapped[str] = mapped_column(String(20), default="")
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    found_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # How it came onto the ledger: report, inspection, import, incident, review; and the reference there.
    origin: Mapped[str] = mapped_column(String(20), default="report")
    origin_ref: Mapped[str | None] = mapped_column(String(64))
    likelihood: Mapped[int | None] = mapped_column(Integer)
    impact: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[str | None] = mapped_column(String(10), index=True)
    # Scope: the unit that answers for the hazard (the reporter's unit until it is assigned).
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(255))
    # The five fixes (五定): owner unit and person, measures, deadline, funds, contingency plan.
    owner_department: Mapped[str] = mapped_column(String(100), default="")
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    measures: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    funds: Mapped[str] = mapped_column(String(200), default="")
    contingency_plan: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(24))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    # 挂牌督办: an overdue major hazard under the school's named supervision.
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    rectification: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    acceptance_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    acceptance_note: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The history's last sequence number.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class HazardEvent(Base):
    """One line of a hazard's history: every change, who made it and what changed (append-only)."""

    __tablename__ = "hazard_event"
    __table_args__ = (UniqueConstraint("hazard_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazard.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Zone(Base):
    """A high-risk area on the map: a polygon with a level, a reason and the times it is dangerous."""

    __tablename__ = "risk_zone"
    __table_args__ = (Index("ix_risk_zone_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    # [{"days": [1..7], "start": "HH:MM", "end": "HH:MM"}]; empty means at all times.
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # GeoJSON Polygon in WGS-84.
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    # Public zones may be shown to students (the exported public map); internal ones may not.
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    tip: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
