"""Request and reply shapes of the duty-roster API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL
from riskcontrol.core.instants import Instant
from riskcontrol.incidents.roster_rules import Position


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ShiftIn(_In):
    """A shift to put on the roster: who, as lead or deputy, from when to when (at most 24 hours)."""

    user_id: int = Field(ge=1, le=MAX_ID)
    position: Position = Field(strict=False)
    starts_at: Instant
    ends_at: Instant


class HandoverIn(_In):
    """What the outgoing person tells the next shift: open incidents, people to call back, anything pending."""

    note: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class ShiftOut(BaseModel):
    id: int
    user_id: int
    name: str
    position: str
    starts_at: datetime
    ends_at: datetime
    handover_note: str
    created_at: datetime
    created_by: int | None


class HandoverNoteOut(BaseModel):
    """The note the previous shift of the same position left."""

    shift_id: int
    user_id: int
    name: str
    ended_at: datetime
    note: str


class OnDutyOut(ShiftOut):
    handover: HandoverNoteOut | None


class GapOut(BaseModel):
    position: str
    severity: str
    starts_at: datetime
    ends_at: datetime


class NowOut(BaseModel):
    at: datetime
    leads: list[OnDutyOut]
    deputies: list[OnDutyOut]
    uncovered: list[str]
    next_handover_at: datetime | None


class WeekOut(BaseModel):
    start: date
    starts_at: datetime
    ends_at: datetime
    shifts: list[ShiftOut]
    gaps: list[GapOut]


class GapsOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    gaps: list[GapOut]


class RemovedOut(BaseModel):
    """A future shift is deleted; a shift under way is ended now, so who was on duty stays on record."""

    id: int
    outcome: str
    ends_at: datetime | None


class HandoverOut(ShiftOut):
    next: list[ShiftOut]
