"""Student risk factors imported from the student-affairs systems (学工系统)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class StudentFactor(Base):
    """One factor about one student: what it is (a code of sop/risk_factors.yaml), where it came from,
    its date and its expiry. Importing the same export again finds it by its natural key."""

    __tablename__ = "student_factor"
    __table_args__ = (
        UniqueConstraint("student_id", "code", "source", "dated", name="uq_student_factor_natural"),
        Index("ix_student_factor_student_expires", "student_id", "expires_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    # The export it came from: screening, academic, sanction, hardship, leave, psych_leave.
    source: Mapped[str] = mapped_column(String(20))
    dated: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    # What the export said beyond the code (the scale, the failed credits, the kind of sanction).
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
