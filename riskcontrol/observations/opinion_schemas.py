"""Request and reply shapes of the opinion (舆情) reports API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from riskcontrol.core.http import MAX_ID, NO_NUL
from riskcontrol.core.instants import Instant
from riskcontrol.core.refusals import refused

FactCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
# Counts beyond this are not a campus item any more and would not survive a JSON round trip as exact.
MAX_COUNT = 10**12


class OpinionReportIn(BaseModel):
    """One item as an opinion officer files it; the codes are those of `sop/opinion.yaml`."""

    model_config = ConfigDict(strict=True, extra="forbid")

    client_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    unit_id: int = Field(ge=1, le=MAX_ID)
    title: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    platforms: list[FactCode] = Field(min_length=1, max_length=20)
    url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s\x00]+$")
    summary: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)
    discovered_at: Instant
    reposts: int = Field(default=0, ge=0, le=MAX_COUNT)
    views: int = Field(default=0, ge=0, le=MAX_COUNT)
    media: FactCode | None = None
    attention: FactCode | None = None
    topics: list[FactCode] = Field(default_factory=list, max_length=20)
    trend: FactCode | None = None

    @field_validator("discovered_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # An offset at the very edge of the calendar cannot be shifted to UTC; refuse it here, not in SQL.
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise refused("refusal.opinion.discovered_out_of_range") from exc


class OutcomeIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    outcome: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class ReasonOut(BaseModel):
    code: str
    grade: str
    zh: str
    en: str


class FiledOut(BaseModel):
    """What filing answers (the same body again for a repeated `client_id`)."""

    id: int
    grade: str
    major: bool
    score: int
    reasons: list[ReasonOut]
    first_report_due_at: datetime | None
    # Discovery was longer ago than the limit: the first report is late before anyone could act.
    overdue_when_filed: bool


class OpinionReportOut(BaseModel):
    id: int
    client_id: str
    filed_by: int
    unit_id: int
    title: str
    platforms: list[str]
    url: str | None
    summary: str
    reposts: int
    views: int
    media: str | None
    attention: str | None
    topics: list[str]
    trend: str | None
    discovered_at: datetime
    filed_at: datetime
    grade: str
    major: bool
    score: int
    reasons: list[ReasonOut]
    status: str
    first_report_due_at: datetime | None
    seconds_left: int | None
    reported_at: datetime | None
    reported_by: int | None
    breached: bool
    breached_at: datetime | None
    late_seconds: int | None
    closed_at: datetime | None
    outcome: str | None
    escalation_id: int | None


class WeeklyEntryOut(BaseModel):
    rank: int
    risk_score: int
    band: str
    band_zh: str
    band_en: str
    colour: str
    active: bool
    report: OpinionReportOut


class WeeklyOut(BaseModel):
    week: str
    starts_at: datetime
    ends_at: datetime
    items: list[WeeklyEntryOut]
