"""Observations filed from phones, with their triage and any escalation they started."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class Observation(Base):
    """What a monitor saw, the checklist items ticked, the level triage suggested and a person set."""

    __tablename__ = "observation"
    __table_args__ = (UniqueConstraint("filed_by", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    # Found by filer through the unique key on (filed_by, client_id); no index of its own.
    filed_by: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id", ondelete="SET NULL"), index=True)
    checklist: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    photo_path: Mapped[str | None] = mapped_column(String(255))
    photo_type: Mapped[str | None] = mapped_column(String(40))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    suggested_level: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    level: Mapped[str] = mapped_column(String(10), index=True)
    override_reason: Mapped[str | None] = mapped_column(Text)
    overridden_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalation.id", ondelete="SET NULL"))
