"""Escalations waiting for someone responsible to acknowledge, and their timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class Escalation(Base):
    """One climb up the grid about one subject, with the policy frozen onto it when it started."""

    __tablename__ = "escalation"
    __table_args__ = (
        Index("ix_escalation_subject", "subject_type", "subject_id"),
        Index("ix_escalation_status_started", "status", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(10))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    # The student it is about, when it is about one: the disclosure policy decides from it who reads the name.
    student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id", ondelete="SET NULL"), index=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    summary_zh: Mapped[str] = mapped_column(Text)
    summary_en: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    current_step: Mapped[int] = mapped_column(Integer)
    step_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # How long after the escalation's schedule the current step was told (0: on time); set at every step.
    step_late_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    acknowledged_via: Mapped[str | None] = mapped_column(String(10))
    # Who has it now: whoever acknowledged it, then whoever it was handed over to.
    held_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    # Who reported what it is about (an observation's filer), to be called back from the detail page.
    reported_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(Text)
    delivery_problem: Mapped[bool] = mapped_column(Boolean, default=False)


class EscalationEvent(Base):
    """One line of an escalation's timeline: who was told, over what, what happened, when."""

    __tablename__ = "escalation_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(24))
    step: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    notification_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(10))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EscalationRecipient(Base):
    """Someone told at a step; any of them may acknowledge (as may anyone above them in scope)."""

    __tablename__ = "escalation_recipient"
    __table_args__ = (Index("ix_escalation_recipient_user", "user_id", "escalation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    told_at: Mapped[datetime] = mapped_column(UTCDateTime())
