"""Request and reply shapes of the inspections API: a walk's results, rounds, checklists."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import NO_NUL
from riskcontrol.core.instants import Instant
from riskcontrol.hazards.inspection_rules import CODE, MAX_NOTE

# A period code: 2026-W48, 2026-11, 2026-autumn, 2027-spring, 2026-2027.
PERIOD = r"^\d{4}-(W\d{2}|\d{2}|autumn|spring|\d{4})$"


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ResultIn(_In):
    """One checklist item as ticked: ok, or failed with what was found (and on which floor)."""

    code: str = Field(max_length=40, pattern=CODE)
    ok: bool
    note: str = Field(default="", max_length=MAX_NOTE, pattern=NO_NUL)
    floor: str = Field(default="", max_length=20, pattern=NO_NUL)


class CompleteIn(_In):
    """A walked round: every item of its checklist ticked once, a word on the whole, when the walk began."""

    results: list[ResultIn] = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=4000, pattern=NO_NUL)
    started_at: Instant | None = None


class UnitRefOut(BaseModel):
    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str


class PlaceOut(BaseModel):
    code: str
    kind: str
    zh: str
    en: str
    lon: float
    lat: float


class ItemOut(BaseModel):
    code: str
    zh: str
    en: str
    hint_zh: str | None
    hint_en: str | None
    category: str
    likelihood: int
    impact: int


class ChecklistOut(BaseModel):
    """One kind of place: its checklist, how often it is walked, by whom, within how long (e.g. `14d`)."""

    kind: str
    label_zh: str
    label_en: str
    every: str
    allow: str
    inspector_role: str
    inspector_at: str
    items: list[ItemOut]


class ResultOut(BaseModel):
    code: str
    ok: bool
    note: str
    floor: str
    hazard_id: int | None


class RoundOut(BaseModel):
    """One round; `status` is where it stands now: open, done or missed (`late`: done after its due time)."""

    id: int
    place: PlaceOut
    label_zh: str
    label_en: str
    unit: UnitRefOut
    inspector_role: str
    period: str
    every: str | None
    opens_at: datetime
    due_at: datetime
    status: str
    late: bool
    inspector_id: int | None
    inspector_name: str | None
    started_at: datetime | None
    done_at: datetime | None
    note: str
    failed: int
    hazard_ids: list[int]
    may_complete: bool


class RoundDetailOut(RoundOut):
    """A round with the checklist to walk and, once done, every item as ticked."""

    items: list[ItemOut]
    results: list[ResultOut]
