"""Request and reply shapes of review meetings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL
from riskcontrol.core.instants import Instant
from riskcontrol.hazards.schemas import HazardIn


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ScheduleIn(_In):
    scheduled_for: Instant
    place: str = Field(min_length=1, max_length=200, pattern=NO_NUL)


class AttendeeIn(_In):
    """Someone at the meeting: a user of the system, or a name and what they represent (a family, a department)."""

    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    name: str = Field(default="", max_length=100, pattern=NO_NUL)
    role: str = Field(default="", max_length=100, pattern=NO_NUL)


class HeldIn(_In):
    held_at: Instant
    attendees: list[AttendeeIn] = Field(min_length=1, max_length=100)
    minutes: str = Field(min_length=1, max_length=50_000, pattern=NO_NUL)
    conclusions: list[Annotated[str, Field(max_length=2000, pattern=NO_NUL)]] = Field(min_length=1, max_length=50)


class MeetingOut(BaseModel):
    id: int
    incident_id: int
    level: int
    drill: bool
    closed_at: datetime
    due_at: datetime
    status: str
    scheduled_for: datetime | None
    place: str
    held_at: datetime | None
    days_late: int
    attendees: list[dict[str, Any]]
    minutes: str
    conclusions: list[str]
    recorded_by: int | None
    escalated_at: datetime | None


class ActionIn(_In):
    """An improvement action decided on in the review of an incident."""

    title: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    detail: str = Field(default="", max_length=8000, pattern=NO_NUL)
    type: Literal["rule", "process", "facility", "training"]
    owner_user_id: int = Field(ge=1, le=MAX_ID)
    due_at: Instant
    # The hazard on the ledger this action puts right (it is done only once the hazard is struck off),
    # or a new one to put on the ledger for it.
    hazard_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    new_hazard: HazardIn | None = None


class ActionDoneIn(_In):
    evidence: str = Field(min_length=1, max_length=8000, pattern=NO_NUL)


class ActionOut(BaseModel):
    id: int
    incident_id: int
    review_id: int | None
    title: str
    detail: str
    type: str
    owner_user_id: int
    due_at: datetime
    status: str
    overdue: bool
    hazard_id: int | None
    evidence: str
    done_at: datetime | None
    done_by: int | None


class RecoveryDoneIn(_In):
    note: str = Field(default="", max_length=20_000, pattern=NO_NUL)


class RecoveryItemOut(BaseModel):
    id: int
    incident_id: int
    person_id: int | None
    code: str
    label_zh: str
    label_en: str
    owner_role: str
    owner_user_id: int | None
    due_at: datetime
    status: str
    overdue: bool
    done_at: datetime | None
    done_by: int | None
    # Whether a note was written; its text only for the psychological centre.
    has_note: bool
    note: str | None


class RevisionIn(_In):
    """A new version of a playbook: its whole YAML text (with `version` raised by one) and why."""

    # The incident's own type when left out.
    playbook_type: str | None = Field(default=None, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    text: str = Field(min_length=1, max_length=200_000, pattern=NO_NUL)
    reason: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class DecisionIn(_In):
    note: str = Field(default="", max_length=4000, pattern=NO_NUL)


class RejectIn(_In):
    note: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class RevisionOut(BaseModel):
    id: int
    action_id: int
    incident_id: int
    playbook_type: str
    base_version: int
    version: int
    reason: str
    changes: list[str]
    status: str
    proposed_by: int | None
    proposed_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str


class RevisionFullOut(RevisionOut):
    text: str
    diff: str
    adopted_text: str
