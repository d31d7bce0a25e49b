"""Request and reply shapes of the incidents API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL
from riskcontrol.core.instants import Instant
from riskcontrol.incidents.playbook_rules import LevelField

CODE = r"^[a-z][a-z0-9_]*$"


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class PersonIn(_In):
    name: str = Field(default="", max_length=100, pattern=NO_NUL)
    involvement: str = Field(max_length=20, pattern=CODE)
    # The level the report about this person was graded at (a triage code: red, orange, yellow, blue).
    risk_level: str | None = Field(default=None, max_length=10, pattern=CODE)
    student_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    note: str = Field(default="", max_length=4000, pattern=NO_NUL)


class IncidentIn(_In):
    type: str = Field(max_length=40, pattern=CODE)
    level: LevelField
    title: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    unit_id: int = Field(ge=1, le=MAX_ID)
    location: str = Field(default="", max_length=200, pattern=NO_NUL)
    summary: str = Field(default="", max_length=8000, pattern=NO_NUL)
    source: str = Field(default="hotline", max_length=20, pattern=CODE)
    source_id: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    started_at: Instant | None = None
    commander_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    people: list[PersonIn] = Field(default_factory=list, max_length=50)
    drill: bool = False
    drill_scale: float = Field(default=1.0, strict=False, ge=1.0, le=3600.0)


class TransitionIn(_In):
    reason: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)
    level: LevelField | None = None
    into_incident_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    # Triggers the SOP marks `confirm` (they cannot be taken back) fire only with this set.
    confirm: bool = False


class TaskDoneIn(_In):
    evidence: str | None = Field(default=None, max_length=8000, pattern=NO_NUL)


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=8000, pattern=NO_NUL)


class RoleIn(_In):
    user_id: int = Field(ge=1, le=MAX_ID)


class TaskOut(BaseModel):
    id: int
    code: str
    state: str
    stream: int | None
    label_zh: str
    label_en: str
    owner_role: str
    checklist: list[dict[str, str]]
    needs_evidence: bool
    due_at: datetime
    status: str
    late: bool
    overdue_step: int
    done_at: datetime | None
    done_by: int | None
    evidence: str | None


class EventOut(BaseModel):
    """A timeline line: its data (codes and ids, as the reader may read them) and the same line in words,
    `at_text` (`09:29` today, `12月7日 09:29` another day) and `text`, in the reader's language."""

    seq: int
    at: datetime
    kind: str
    actor_id: int | None
    data: dict[str, Any]
    at_text: str
    text: str


class RoleOut(BaseModel):
    role: str
    user_id: int
    assigned_at: datetime
    assigned_by: int | None
    ended_at: datetime | None


class TriggerOut(BaseModel):
    trigger: str
    label: dict[str, str]
    dest: str | None
    needs_reason: bool
    confirm: bool


class IncidentOut(BaseModel):
    id: int
    type: str
    playbook_version: int
    sop_version: int
    level: int
    level_numeral: str
    state: str
    is_open: bool
    title: str
    location: str
    summary: str
    unit_id: int
    source: str
    source_id: str | None
    started_at: datetime
    closed_at: datetime | None
    merged_into_id: int | None
    drill: bool
    drill_scale: float
    seq: int
    next_due_at: datetime | None


class IncidentStateOut(IncidentOut):
    """An incident after a change: where it is, what may happen next, its tasks (the timeline is
    at GET …/timeline?after=seq, the whole picture at GET …/{id})."""

    legal_triggers: list[TriggerOut]
    roles: dict[str, int]
    tasks: list[TaskOut]
    may_command: bool


class IncidentDetailOut(IncidentStateOut):
    role_history: list[RoleOut]
    people: list[dict[str, Any]]
    timeline: list[EventOut]
    # Display names of the users the roles, tasks and timeline refer to.
    users: dict[int, str]


class ProposalOut(BaseModel):
    """An incident a warning may call for, waiting for (or given) a person's decision."""

    id: int
    type: str
    level: LevelField
    title: str
    unit_id: int
    source: str
    source_id: str
    observation_id: int | None
    status: str
    proposed_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    reason: str | None
    incident_id: int | None


class ProposalDecisionIn(_In):
    """Open the proposed incident, or decline it; declining needs the reason, for the record."""

    open: bool
    reason: str | None = Field(default=None, min_length=1, max_length=2000, pattern=NO_NUL)
