"""Legal holds on a student or an incident, and the record of each retention run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class LegalHold(Base):
    """Keeps everything about one student or one incident, whatever its period, until released."""

    __tablename__ = "legal_hold"
    __table_args__ = (Index("ix_legal_hold_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    release_reason: Mapped[str | None] = mapped_column(Text)


class RetentionRun(Base):
    """One round of the retention job: how many records of each kind it deleted or anonymised."""

    __tablename__ = "retention_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    worker: Mapped[str | None] = mapped_column(String(120))
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    # Some kind filled its batch: another round follows at once.
    more: Mapped[bool] = mapped_column(Boolean, default=False)
