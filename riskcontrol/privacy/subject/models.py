"""Correction requests (PIPL Art. 46): what a student says is wrong in what we hold, and what was decided."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime

PENDING, ACCEPTED, REFUSED = "pending", "accepted", "refused"


class CorrectionRequest(Base):
    """One request to correct a record about a student, as received, and the decision on it."""

    __tablename__ = "correction_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"), index=True)
    # Which record or field, in the export's terms (e.g. "student.phone", "observation 12 note").
    record: Mapped[str] = mapped_column(String(200))
    # What the student says is wrong, and what it should say, in their words.
    statement: Mapped[str] = mapped_column(Text)
    # Who asked: the student, or someone on their behalf (a guardian).
    requested_by: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    # pending → accepted | refused
    status: Mapped[str] = mapped_column(String(10))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
