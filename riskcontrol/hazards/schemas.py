"""Request and reply shapes of the hazard ledger and zones API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL
from riskcontrol.core.instants import Instant

CODE = r"^[a-z][a-z0-9_]*$"
LonLat = tuple[float, float]


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class PointIn(_In):
    type: Literal["Point"]
    coordinates: tuple[float, float] = Field(strict=False)


class PolygonIn(_In):
    type: Literal["Polygon"]
    # One outer ring of [lon, lat] pairs (holes are not drawn on the ledger's map).
    coordinates: list[list[Annotated[list[float], Field(min_length=2, max_length=2)]]] = Field(min_length=1, max_length=1)


Geometry = PointIn | PolygonIn


class HazardIn(_In):
    """A hazard as reported (from a phone, an inspection round, or the safety office's desk)."""

    title: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    category: str = Field(max_length=40, pattern=CODE)
    description: str = Field(default="", max_length=8000, pattern=NO_NUL)
    unit_id: int = Field(ge=1, le=MAX_ID)
    location: Geometry | None = Field(default=None, discriminator="type")
    place: str = Field(default="", max_length=40, pattern=NO_NUL)
    building: str = Field(default="", max_length=100, pattern=NO_NUL)
    floor: str = Field(default="", max_length=20, pattern=NO_NUL)
    found_at: Instant | None = None
    likelihood: int | None = Field(default=None, ge=1, le=5)
    impact: int | None = Field(default=None, ge=1, le=5)


class HazardEditIn(_In):
    """Corrections that do not move the lifecycle: text, category, where it is."""

    title: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    category: str | None = Field(default=None, max_length=40, pattern=CODE)
    description: str | None = Field(default=None, max_length=8000, pattern=NO_NUL)
    location: Geometry | None = Field(default=None, discriminator="type")
    place: str | None = Field(default=None, max_length=40, pattern=NO_NUL)
    building: str | None = Field(default=None, max_length=100, pattern=NO_NUL)
    floor: str | None = Field(default=None, max_length=20, pattern=NO_NUL)


class AssessIn(_In):
    likelihood: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    note: str = Field(default="", max_length=4000, pattern=NO_NUL)


class AssignIn(_In):
    """The five fixes (五定): owner unit and person, measures, deadline, funds, contingency plan."""

    owner_unit_id: int = Field(ge=1, le=MAX_ID)
    owner_user_id: int = Field(ge=1, le=MAX_ID)
    owner_department: str = Field(default="", max_length=100, pattern=NO_NUL)
    measures: str = Field(min_length=1, max_length=8000, pattern=NO_NUL)
    deadline: Instant
    funds: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    contingency_plan: str = Field(min_length=1, max_length=8000, pattern=NO_NUL)


class SubmitIn(_In):
    rectification: str = Field(min_length=1, max_length=8000, pattern=NO_NUL)


class AcceptIn(_In):
    note: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class ReasonIn(_In):
    reason: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)


class ReopenIn(_In):
    reason: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)
    deadline: Instant


class PhotoIn(_In):
    data_base64: str = Field(min_length=1, max_length=7_000_000)
    caption: str = Field(default="", max_length=200, pattern=NO_NUL)


class HazardOut(BaseModel):
    id: int
    title: str
    category: str
    description: str
    location: dict[str, Any] | None
    lon: float | None
    lat: float | None
    place: str
    building: str
    floor: str
    photos: list[dict[str, Any]]
    found_by: int | None
    found_at: datetime
    origin: str
    origin_ref: str | None
    likelihood: int | None
    impact: int | None
    score: int | None
    level: str | None
    unit_id: int
    owner_department: str
    owner_user_id: int | None
    measures: str
    deadline: datetime | None
    funds: str
    contingency_plan: str
    state: str
    overdue: bool
    supervised: bool
    rectification: str
    submitted_at: datetime | None
    acceptance_due_at: datetime | None
    accepted_at: datetime | None
    accepted_by: int | None
    acceptance_note: str
    closed_at: datetime | None
    updated_at: datetime
    legal_actions: list[str]
    seq: int


class HazardEventOut(BaseModel):
    seq: int
    at: datetime
    actor_id: int | None
    kind: str
    data: dict[str, Any]


class WindowIn(_In):
    """A time window in school time: days of the week (1 = Monday) and a span that may cross midnight."""

    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class ZoneIn(_In):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    level: str = Field(pattern=r"^(red|orange|yellow|blue)$")
    reason: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)
    windows: list[WindowIn] = Field(default_factory=list, max_length=20)
    location: PolygonIn
    public: bool = False
    tip: str = Field(default="", max_length=1000, pattern=NO_NUL)
    unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class ZoneEditIn(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    level: str | None = Field(default=None, pattern=r"^(red|orange|yellow|blue)$")
    reason: str | None = Field(default=None, min_length=1, max_length=4000, pattern=NO_NUL)
    windows: list[WindowIn] | None = Field(default=None, max_length=20)
    location: PolygonIn | None = None
    public: bool | None = None
    tip: str | None = Field(default=None, max_length=1000, pattern=NO_NUL)
    active: bool | None = None


class ZoneOut(BaseModel):
    id: int
    name: str
    level: str
    reason: str
    windows: list[dict[str, Any]]
    location: dict[str, Any]
    lon: float
    lat: float
    public: bool
    tip: str
    active: bool
    unit_id: int
    updated_at: datetime


class ImportErrorOut(BaseModel):
    line: int
    column: str
    reason: str


class ImportOut(BaseModel):
    created: int
    ids: list[int]
