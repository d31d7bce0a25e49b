"""Tables of the key-concern register (重点关注学生) and the talks counsellors record with each student."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime

ACTIVE, CLOSED = "active", "closed"
# The partial unique index below: one active entry per student, any number of closed ones.
_ACTIVE_ONLY = text("status = 'active'")


class KeyConcern(Base):
    """A student on the register: level, why, the counsellor who follows them, and when the next talk is due."""

    __tablename__ = "key_concern"
    __table_args__ = (
        Index(
            "uq_key_concern_active_student", "student_id", unique=True, sqlite_where=_ACTIVE_ONLY, postgresql_where=_ACTIVE_ONLY
        ),
        Index("ix_key_concern_status_due", "status", "next_talk_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="RESTRICT"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    # Why, as codes of the one catalogue (the checklist's items, which risk factors count as too),
    # and in words as a note beside them.
    reason_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    reasons: Mapped[str] = mapped_column(Text)
    counselor_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    # Where the entry came from: 'manual', or 'observation' with the observation's id in source_id.
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(64))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    review_on: Mapped[date] = mapped_column(Date)
    last_talk_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Kept in step with the pending `key_concern.talk_due` deadline; handlers compare against it
    # so that a deadline overtaken by a talk recorded meanwhile does nothing.
    next_talk_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    closed_reason: Mapped[str | None] = mapped_column(Text)


class TalkRecord(Base):
    """One talk (谈心谈话) with a student on the register.

    `summary` is a case note for the student-work team. Clinical counselling notes belong to the
    psychological centre's own records and are never written here.
    """

    __tablename__ = "talk_record"
    __table_args__ = (Index("ix_talk_record_concern_talked", "key_concern_id", "talked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_concern_id: Mapped[int] = mapped_column(ForeignKey("key_concern.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="RESTRICT"), index=True)
    counselor_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"))
    talked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mode: Mapped[str] = mapped_column(String(12))
    summary: Mapped[str] = mapped_column(Text)
    risk_change: Mapped[str] = mapped_column(String(8))
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
