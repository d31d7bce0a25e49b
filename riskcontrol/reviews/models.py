"""Review meetings (复盘会): one per reviewed incident, with its due time, attendees, minutes and conclusions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class ReviewMeeting(Base):
    """The review of one closed incident: due, scheduled, held (with who came, the minutes and conclusions)
    or overdue; cancelled when the incident is reopened."""

    __tablename__ = "review_meeting"
    __table_args__ = (Index("ix_review_meeting_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    unit_path: Mapped[str] = mapped_column(String(255))
    level: Mapped[int] = mapped_column(Integer)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # due → scheduled → held; overdue when the due time passed first (it may still be held, late); cancelled.
    status: Mapped[str] = mapped_column(String(12))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(String(200), default="")
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attendees: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    minutes: Mapped[str] = mapped_column(Text, default="")
    conclusions: Mapped[list[str]] = mapped_column(JSON, default=list)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ImprovementAction(Base):
    """A fix the review decided on (a rule, a process, a facility, training), owned and due, tracked until
    closed with evidence; it may be the rectification of a hazard on the ledger."""

    __tablename__ = "improvement_action"
    __table_args__ = (
        Index("ix_improvement_action_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),
        Index("ix_improvement_action_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("review_meeting.id", ondelete="SET NULL"))
    unit_path: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    # rule, process, facility, training
    type: Mapped[str] = mapped_column(String(12))
    owner_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # open → done; overdue while open past its due time
    status: Mapped[str] = mapped_column(String(10))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazard.id", ondelete="SET NULL"))
    evidence: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecoveryItem(Base):
    """One task of an incident's recovery plan: a counselling session, a follow-up, an assessment; `note` is
    clinical (the psychological centre alone reads it, audited)."""

    __tablename__ = "recovery_item"
    __table_args__ = (Index("ix_recovery_item_incident", "incident_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("incident_person.id", ondelete="CASCADE"))
    unit_path: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(40))
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    owner_role: Mapped[str] = mapped_column(String(24))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseStudy(Base):
    """An anonymised case for counsellor training, made from a closed and reviewed incident: no names,
    student numbers, phones or room numbers; times relative to the start; the place generalised."""

    __tablename__ = "case_study"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"), unique=True, nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(20))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The whole case as plain text, for search.
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlaybookRevision(Base):
    """A new version of a playbook proposed from an improvement action: the whole proposed text, what it
    changes and why; a leader adopts it (the playbook file is rewritten with the record appended) or rejects it."""

    __tablename__ = "playbook_revision"
    __table_args__ = (
        Index("ix_playbook_revision_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),
        Index("ix_playbook_revision_type_status", "playbook_type", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("improvement_action.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    unit_path: Mapped[str] = mapped_column(String(255))
    playbook_type: Mapped[str] = mapped_column(String(40))
    base_version: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    # Each change as its structure (incidents.playbook_diff.Change as JSON), worded when read; a revision
    # proposed before changes kept their structure holds one line of text per change.
    changes: Mapped[list[dict[str, Any] | str]] = mapped_column(JSON, default=list)
    # The unified diff of the file, for reading line by line.
    diff: Mapped[str] = mapped_column(Text)
    # proposed → adopted | rejected | superseded (another revision of the same version was adopted first)
    status: Mapped[str] = mapped_column(String(12))
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(Text, default="")
    # The file as written on adoption: the proposed text with its revision record appended.
    adopted_text: Mapped[str] = mapped_column(Text, default="")
