"""Request and reply shapes of the observations API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL
from riskcontrol.core.instants import Instant


class LocationIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    text: str | None = Field(default=None, max_length=200, pattern=NO_NUL)


class PhotoIn(BaseModel):
    """An optional photo, base64-encoded so a phone can queue it offline with the rest."""

    model_config = ConfigDict(strict=True, extra="forbid")

    filename: str = Field(min_length=1, max_length=120, pattern=NO_NUL)
    data_base64: str = Field(min_length=4, max_length=7_000_000)


class ObservationIn(BaseModel):
    """One observation as a phone sends it; `client_id` makes a retried send land once."""

    model_config = ConfigDict(strict=True, extra="forbid")

    client_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    unit_id: int = Field(ge=1, le=MAX_ID)
    student_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    checklist: list[str] = Field(max_length=40)
    note: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)
    observed_at: Instant
    location: LocationIn | None = None
    photo: PhotoIn | None = None


class ReasonOut(BaseModel):
    code: str
    level: str
    zh: str
    en: str


class FiledOut(BaseModel):
    """What filing answers (the same body again for a repeated `client_id`)."""

    id: int
    level: str
    reasons: list[ReasonOut]
    escalation_id: int | None


class ObservationOut(BaseModel):
    id: int
    client_id: str
    filed_by: int
    unit_id: int
    student_id: int | None
    checklist: list[str]
    note: str | None
    observed_at: datetime
    filed_at: datetime
    suggested_level: str
    level: str
    score: int
    reasons: list[ReasonOut]
    override_reason: str | None
    escalation_id: int | None
    has_photo: bool


class LevelOverrideIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    level: str = Field(pattern=r"^(blue|yellow|orange|red)$")
    reason: str = Field(min_length=2, max_length=2000, pattern=NO_NUL)


class ProgressOut(BaseModel):
    """How far the escalation a report started has got, as far as its filer may know: no staff words."""

    status: str
    acknowledged_at: datetime | None
    acknowledged_by_name: str | None
    resolved_at: datetime | None


class MyReportOut(BaseModel):
    """One of the caller's own reports: what she filed, the level she may read, and its progress."""

    id: int
    filed_at: datetime
    observed_at: datetime
    unit_id: int
    unit_name_zh: str
    unit_name_en: str
    level: str
    checklist: list[str]
    note: str | None
    student_name: str | None
    progress: ProgressOut | None
