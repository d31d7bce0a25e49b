"""Negative public-opinion (舆情) reports, their grade and the fate of their first-report deadline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class OpinionReport(Base):
    """One opinion item as filed: where it is, how it was graded, and whether its first report came in time."""

    __tablename__ = "opinion_report"
    __table_args__ = (UniqueConstraint("filed_by", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    filed_by: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    platforms: Mapped[list[str]] = mapped_column(JSON)
    url: Mapped[str | None] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text)
    # The grading inputs as filed (reposts, views, media, attention, topics) and the trend seen then.
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    trend: Mapped[str | None] = mapped_column(String(40))
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    grade: Mapped[str] = mapped_column(String(10), index=True)
    major: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), index=True)
    # Major items only: discovery plus the first-report limit in force at filing.
    first_report_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    breached: Mapped[bool] = mapped_column(Boolean, default=False)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    late_seconds: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(Text)
    # A breach is recorded and told directly, not through a triage chain; this links an escalation
    # an officer may start about the item later.
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalation.id", ondelete="SET NULL"))
