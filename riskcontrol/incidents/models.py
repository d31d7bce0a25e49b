"""Incidents, their people, command roles, tasks and the append-only timeline; the duty roster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from riskcontrol.core.db import Base, UTCDateTime


class Incident(Base):
    """One incident run by a playbook version on a crisis-SOP version; `state` is its SOP state."""

    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_open_started", "is_open", "started_at"),
        Index("ix_incident_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),
        Index("ix_incident_source", "source", "source_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    playbook_version: Mapped[int] = mapped_column(Integer)
    # The playbook as it was when the incident started: later edits of the file do not change it.
    playbook: Mapped[dict[str, Any]] = mapped_column(JSON)
    sop_version: Mapped[int] = mapped_column(Integer)
    # The crisis SOP as it was when the incident started; its machine is built once per version.
    sop: Mapped[dict[str, Any]] = mapped_column(JSON)
    level: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(40))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(255))
    # Where it came from: hotline (by hand), escalation, opinion, hazard.
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
    # A drill (演练): kept out of KPIs and live alerts to real phones; may run on a scaled clock.
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    drill_scale: Mapped[float] = mapped_column(Float, default=1.0)
    # The timeline's last sequence number; board events carry it so a screen sees a gap.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IncidentPerson(Base):
    """A person involved; `note` is sensitive (health, family) and its reads are audited."""

    __tablename__ = "incident_person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    involvement: Mapped[str] = mapped_column(String(20))
    # The level the report about them was graded at (triage code: red 紧急 … blue 关注), when one was.
    risk_level: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class IncidentRole(Base):
    """Who holds an ICS role on an incident, from when to when (history is kept, never overwritten)."""

    __tablename__ = "incident_role"
    __table_args__ = (Index("ix_incident_role_current", "incident_id", "role", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IncidentTask(Base):
    """A playbook task created when its state was entered, with an owner role and a due time."""

    __tablename__ = "incident_task"
    __table_args__ = (
        UniqueConstraint("incident_id", "code"),
        Index("ix_incident_task_open_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(40))
    stream: Mapped[int | None] = mapped_column(Integer)
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    owner_role: Mapped[str] = mapped_column(String(24))
    checklist: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    needs_evidence: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    evidence: Mapped[str | None] = mapped_column(Text)
    # How far the overdue reminder has climbed: 0 none, 1 owner, 2 commander, 3 level above.
    overdue_step: Mapped[int] = mapped_column(Integer, default=0)


class IncidentEvent(Base):
    """One line of the incident's append-only timeline, numbered 1, 2, 3 … per incident."""

    __tablename__ = "incident_event"
    __table_args__ = (UniqueConstraint("incident_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DutyShift(Base):
    """A shift of the 7×24 rapid-response team: who is on duty from when to when, as lead or deputy."""

    __tablename__ = "duty_shift"
    __table_args__ = (Index("ix_duty_shift_window", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    position: Mapped[str] = mapped_column(String(10))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handover_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class MeasureRound(Base):
    """One round of a playbook's standing prevention measure for one unit (e.g. class 2301's anti-fraud
    quiz this term): opened on schedule, due by a date, done with evidence or overdue."""

    __tablename__ = "measure_round"
    __table_args__ = (
        UniqueConstraint("playbook_type", "measure_code", "unit_id", "period"),
        Index("ix_measure_round_status_due", "status", "due_at"),
        Index("ix_measure_round_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),
        Index("ix_measure_round_period", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playbook_type: Mapped[str] = mapped_column(String(40))
    measure_code: Mapped[str] = mapped_column(String(60))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    unit_path: Mapped[str] = mapped_column(String(255))
    owner_role: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    evidence: Mapped[str | None] = mapped_column(Text)
    # Signed off after its due time (a completion is never refused for being late, only marked).
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # For measures that reach people (a class's anti-fraud quiz): how many took part, of how many.
    covered: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)


class IncidentProposal(Base):
    """An incident a warning may call for, waiting for a person to confirm it (a playbook trigger at
    level Ⅲ or Ⅳ that says `opens: confirm`): opened, or declined with a reason."""

    __tablename__ = "incident_proposal"
    __table_args__ = (
        Index("ix_incident_proposal_status", "status", "proposed_at"),
        Index("ix_incident_proposal_unit_path", "unit_path", postgresql_ops={"unit_path": "varchar_pattern_ops"}),
        UniqueConstraint("source", "source_id", name="uq_incident_proposal_source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    unit_path: Mapped[str] = mapped_column(String(255))
    # What it came from (an escalation), and the observation behind it.
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[str] = mapped_column(String(64))
    observation_id: Mapped[int | None] = mapped_column(Integer)
    student_id: Mapped[int | None] = mapped_column(Integer)
    filed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
