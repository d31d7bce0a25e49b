"""Request and reply shapes of the escalations API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL


class EscalationOut(BaseModel):
    id: int
    subject_type: str
    subject_id: str
    level: str
    unit_id: int
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str
    status: str
    current_step: int
    step_due_at: datetime | None
    # How long after its schedule the current step was told (0: on time; more after an outage).
    step_late_seconds: int
    seconds_left: int | None
    started_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    acknowledged_via: str | None
    # Who has it now (whoever acknowledged it, or was handed it), and who reported what it is about.
    held_by: int | None
    reported_by: int | None
    outcome: str | None
    delivery_problem: bool


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    step: int | None
    user_id: int | None
    notification_id: int | None
    channel: str | None
    detail: dict[str, Any]


class StepOut(BaseModel):
    """One telling of a step: when the schedule said, when it happened, how late, and its deadline."""

    step: int
    grid_level: str
    scheduled_at: datetime | None
    told_at: datetime
    late_seconds: int
    due_at: datetime | None


class EscalationDetailOut(EscalationOut):
    steps: list[StepOut]
    timeline: list[TimelineEntry]
    deliveries: list[dict[str, Any]]


class OutcomeIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    outcome: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class NoteIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    text: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class HandOverIn(BaseModel):
    """To whom (a responder at the escalation's unit or above it: see `GET …/colleagues`), and why, if it helps."""

    model_config = ConfigDict(strict=True, extra="forbid")

    to_user_id: int = Field(ge=1, le=MAX_ID)
    note: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)


class StoryLineOut(BaseModel):
    """One line of the climb in words, in the reply's language, with its time on the school's clock."""

    at: datetime
    when: str
    text: str
    tone: str


class ContactOut(BaseModel):
    """Someone to ring about the escalation, as the caller may see them; `may_call`: `POST …/phone` gives the
    number (and audits the read)."""

    key: str
    kind: str
    name: str
    relation: str | None
    may_call: bool


class PhoneIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    contact: str = Field(pattern=r"^(student|reporter|guardian-[1-9][0-9]{0,9})$")


class PhoneOut(BaseModel):
    key: str
    name: str
    tel: str
    number: str


class ColleagueRoleOut(BaseModel):
    role: str
    unit_id: int
    unit_name_zh: str
    unit_name_en: str


class ColleagueOut(BaseModel):
    """A responder the escalation may be handed to, with the roles they hold at its unit or above it."""

    user_id: int
    name: str
    roles: list[ColleagueRoleOut]
