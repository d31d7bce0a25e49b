"""Request and reply shapes of the prevention API: signing a round off, rounds, coverage per unit."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import NO_NUL
from riskcontrol.incidents.prevention_rules import MAX_EVIDENCE, MAX_PEOPLE, Tally

# A period code: 2026-W48, 2026-11, 2026-autumn, 2027-spring, 2026-2027.
PERIOD = r"^\d{4}-(W\d{2}|\d{2}|autumn|spring|\d{4})$"


class CompleteIn(BaseModel):
    """A round signed off: the evidence (required where the measure names one) and, for measures that
    reach people, how many took part of how many should have (both or neither)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    evidence: str | None = Field(default=None, max_length=MAX_EVIDENCE, pattern=NO_NUL)
    covered: int | None = Field(default=None, ge=0, le=MAX_PEOPLE)
    population: int | None = Field(default=None, ge=1, le=MAX_PEOPLE)


class UnitRefOut(BaseModel):
    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str


class TallyOut(BaseModel):
    """Rounds done (of them late), due (open, before their due time), overdue and not yet open."""

    done: int
    late: int
    due: int
    overdue: int
    upcoming: int
    total: int
    percent_done: int | None
    covered: int
    population: int
    percent_covered: int | None

    @classmethod
    def of(cls, tally: Tally) -> TallyOut:
        return cls(
            done=tally.done,
            late=tally.late,
            due=tally.due,
            overdue=tally.overdue,
            upcoming=tally.upcoming,
            total=tally.total,
            percent_done=tally.percent_done,
            covered=tally.covered,
            population=tally.population,
            percent_covered=tally.percent_covered,
        )


class MeasureCoverageOut(BaseModel):
    playbook_type: str
    measure_code: str
    label_zh: str
    label_en: str
    every: str | None
    owner_role: str | None
    tally: TallyOut


class UnitCoverageOut(BaseModel):
    unit: UnitRefOut
    has_children: bool
    total: TallyOut
    measures: list[MeasureCoverageOut]


class CoverageOut(BaseModel):
    """The current periods' coverage: the unit asked for (none for the caller's top units), the way down
    to it, its own rounds, its whole subtree, and each unit under it."""

    unit: UnitRefOut | None
    trail: list[UnitRefOut]
    periods: dict[str, str]
    own: TallyOut
    whole: TallyOut
    units: list[UnitCoverageOut]


class RoundOut(BaseModel):
    """One round; `status` is where it stands now: due, overdue, done (or upcoming)."""

    id: int
    playbook_type: str
    measure_code: str
    label_zh: str
    label_en: str
    evidence_label_zh: str | None
    evidence_label_en: str | None
    every: str | None
    unit: UnitRefOut
    owner_role: str
    period: str
    opens_at: datetime
    due_at: datetime
    status: str
    late: bool
    done_at: datetime | None
    done_by: int | None
    done_by_name: str | None
    evidence: str | None
    covered: int | None
    population: int | None
    may_complete: bool
