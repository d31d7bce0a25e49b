"""Inspection rounds (安全检查), pure: the checklist and schedule of each kind of place as data
(`sop/inspections.yaml`), when a round falls due, where it stands, and whether a walk's results are whole.

A round belongs to one place and one period of its kind's schedule (`core.periods`). A round opened
within a day of its period's opening (the 06:30 run) is due `allow` after the opening; one opened later
(a new place, a system started mid-month) gets its full allowance from when it was opened, but never
past the end of its period. Every checklist item is ticked ok or failed, and a failed item says what
was found: it becomes a hazard on the ledger.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol, Self

from pydantic import Field, model_validator

from riskcontrol.core.durations import Duration, format_duration
from riskcontrol.core.i18n import Phrase, listing, phrase
from riskcontrol.core.periods import Every, Period, shortest
from riskcontrol.core.shapes import Frozen, Label, Problem, refuse_all
from riskcontrol.grid.rules import UnitKind
from riskcontrol.hazards.places import PlaceKind
from riskcontrol.people.rules import ROLE_UNIT_KINDS, Role

CODE: Final = r"^[a-z][a-z0-9_]*$"
ON_TIME: Final = timedelta(days=1)
MAX_NOTE: Final = 2000


class Status(StrEnum):
    """A round's record: open until done, missed when its due time passed first (it may still be done late)."""

    OPEN = "open"
    DONE = "done"
    MISSED = "missed"


class At(StrEnum):
    """Where the inspector of a kind of place sits on the grid."""

    BUILDING = "building"  # the building unit whose code is the place's code (the school when none)
    SCHOOL = "school"


class Inspector(Frozen):
    role: Role
    at: At


class Item(Frozen):
    """One thing to look at; failing it files a hazard of `category` at likelihood × impact."""

    code: str = Field(pattern=CODE, max_length=40)
    zh: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=160)
    hint: Label | None = None
    category: str = Field(pattern=CODE, max_length=40)
    likelihood: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class KindPlan(Frozen):
    """The checklist of one kind of place, how often it is walked, by whom and within how long."""

    label: Label
    every: Every
    allow: Duration
    inspector: Inspector
    items: tuple[Item, ...] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = []
        if self.allow <= timedelta(0):
            problems.append((("allow",), "must be longer than zero", format_duration(self.allow)))
        elif self.allow > (longest := shortest(self.every)):
            reason = f"a {self.every.value}ly round must fall due within its period (at most {format_duration(longest)})"
            problems.append((("allow",), reason, format_duration(self.allow)))
        unit_kind = UnitKind.BUILDING if self.inspector.at is At.BUILDING else UnitKind.SCHOOL
        if unit_kind not in ROLE_UNIT_KINDS[self.inspector.role]:
            reason = f"{self.inspector.role.value} is not held at a {unit_kind.value}"
            problems.append((("inspector", "role"), reason, self.inspector.role.value))
        seen: set[str] = set()
        for i, item in enumerate(self.items):
            if item.code in seen:
                problems.append((("items", i, "code"), f"duplicate code {item.code!r}", item.code))
            seen.add(item.code)
        if problems:
            refuse_all(type(self).__name__, problems)
        return self

    def item(self, code: str) -> Item | None:
        return next((item for item in self.items if item.code == code), None)


class InspectionPlan(Frozen):
    """`sop/inspections.yaml`: a checklist and a schedule per kind of place."""

    version: int = Field(ge=1)
    kinds: dict[PlaceKind, KindPlan] = Field(min_length=1)

    def kind(self, code: str) -> KindPlan | None:
        return next((plan for kind, plan in self.kinds.items() if kind.value == code), None)

    def category_problems(self, known: Collection[str]) -> list[Problem]:
        """Each item whose category is not one of `known` (the risk matrix's), at its field path."""
        listed = ", ".join(sorted(known))
        return [
            (("kinds", kind.value, "items", i, "category"), f"unknown category {item.category!r}; known: {listed}", item.category)
            for kind, plan in self.kinds.items()
            for i, item in enumerate(plan.items)
            if item.category not in known
        ]


# --- times -----------------------------------------------------------------------------------------


def due_at(period: Period, allow: timedelta, opened_at: datetime) -> datetime:
    """When a round of `period` opened at `opened_at` falls due."""
    on_schedule = period.opens_at + allow
    if opened_at <= period.opens_at + ON_TIME:
        return on_schedule
    return max(on_schedule, min(opened_at + allow, period.closes_at))


def standing(status: str, due_at: datetime, now: datetime) -> Status:
    """Where a round stands at `now`: an open round past due is missed even before the sweep records it."""
    if status == Status.OPEN and due_at <= now:
        return Status.MISSED
    return Status(status)


# --- a walk's results --------------------------------------------------------------------------


class Tick(Protocol):
    """One item as the inspector ticked it."""

    @property
    def code(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def note(self) -> str: ...


def results_problem(plan: KindPlan, results: Sequence[Tick]) -> tuple[str, Phrase] | None:
    """Why a walk's results cannot be recorded, as (field, reason), or None when every item is ticked
    exactly once and every failed one says what was found."""
    seen: set[str] = set()
    for i, tick in enumerate(results):
        if (item := plan.item(tick.code)) is None:
            return f"results.{i}.code", phrase("refusal.inspection.unknown_item", code=tick.code)
        if tick.code in seen:
            return f"results.{i}.code", phrase("refusal.inspection.ticked_twice", item=item)
        seen.add(tick.code)
        if not tick.ok and not tick.note.strip():
            return f"results.{i}.note", phrase("refusal.inspection.note_needed", item=item)
        if len(tick.note) > MAX_NOTE:
            return f"results.{i}.note", phrase("refusal.inspection.note_too_long", item=item, max=MAX_NOTE)
    missing = [item for item in plan.items if item.code not in seen]
    if missing:
        return "results", phrase("refusal.inspection.not_ticked", items=listing(missing))
    return None
