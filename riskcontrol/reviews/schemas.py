"""Request and reply shapes of review meetings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ScheduleIn(_In):
    scheduled_for: AwareDatetime = Field(strict=False)
    place: str = Field(min_length=1, max_length=200, pattern=NO_NUL)


class AttendeeIn(_In):
    """Someone at the meeting: a user of the system, or a name and what they represent (a family, a department)."""

    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    name: str = Field(default="", max_length=100, pattern=NO_NUL)
    role: str = Field(default="", max_length=100, pattern=NO_NUL)


class HeldIn(_In):
    held_at: AwareDatetime = Field(strict=False)
    attendees: list[AttendeeIn] = Field(min_length=1, max_length=100)
    minutes: str = Field(min_length=1, max_length=50_000, pattern=NO_NUL)
    conclusions: list[str] = Field(min_length=1, max_length=50)


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
