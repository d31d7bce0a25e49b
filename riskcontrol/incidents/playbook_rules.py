"""Playbooks (预案) as validated data: one per incident type, pure (no I/O).

A playbook says how to grade an incident of its type (levels Ⅰ–Ⅳ), which departments and ICS
roles take part, and what must be done in each of the four stages: standing prevention measures,
the warning items that open an incident of this type, the tasks hung on each crisis-SOP state with
deadlines counted from the incident's start per level, and the recovery handover. Family-contact
and public-statement templates go with it. Every time limit is a school's default, not a constant.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import IntEnum, StrEnum
from typing import Annotated, NoReturn

from pydantic import BeforeValidator, Field, model_validator

from riskcontrol.core.durations import Duration
from riskcontrol.core.shapes import Frozen, Label, Problem, refuse_all
from riskcontrol.escalation.rules import TimeWindow
from riskcontrol.incidents.rules import CODE, CrisisSop
from riskcontrol.observations.opinion_rules import GRADES
from riskcontrol.observations.rules import Checklist


class Level(IntEnum):
    """Incident levels of the national scheme: Ⅰ 特别重大 is the gravest, Ⅳ 一般 the least."""

    I = 1  # noqa: E741 - the level's own name
    II = 2
    III = 3
    IV = 4

    @property
    def numeral(self) -> str:
        return "ⅠⅡⅢⅣ"[self.value - 1]

    @property
    def colour(self) -> str:
        """The warning colour of the level: red, orange, yellow, blue."""
        return ("red", "orange", "yellow", "blue")[self.value - 1]


def _level(value: object) -> object:
    """Levels are written as I…IV (or Ⅰ…Ⅳ, or 1…4) in the data files."""
    if isinstance(value, str):
        text = value.strip()
        for level in Level:
            if text in (level.name, level.numeral, str(level.value)):
                return level
        raise ValueError(f"{value!r} is not a level; write I, II, III or IV")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
        return Level(value)
    return value


LevelField = Annotated[Level, BeforeValidator(_level)]


LEVEL_NAMES: dict[Level, Label] = {
    Level.I: Label(zh="特别重大", en="Particularly serious"),
    Level.II: Label(zh="重大", en="Serious"),
    Level.III: Label(zh="较大", en="Relatively serious"),
    Level.IV: Label(zh="一般", en="General"),
}


class Category(StrEnum):
    """The four categories of the Emergency Response Law (突发事件应对法, art. 2)."""

    NATURAL_DISASTER = "natural_disaster"
    ACCIDENT = "accident"
    PUBLIC_HEALTH = "public_health"
    SOCIAL_SAFETY = "social_safety"


class IcsRole(StrEnum):
    """Incident-command roles held per incident. Unfilled roles stay with the commander."""

    COMMANDER = "commander"
    SCRIBE = "scribe"
    LIAISON = "liaison"
    INFORMATION_OFFICER = "information_officer"
    OPERATIONS = "operations"
    SAFETY = "safety"
    LOGISTICS = "logistics"


class GradeRule(Frozen):
    """When an incident of this type is at a level, in words a duty officer can apply at 02:00."""

    level: LevelField
    criteria: Label


class RoleDuty(Frozen):
    """An ICS role in this playbook: who usually holds it on campus and what they do."""

    role: IcsRole
    holder: Label
    duties: Label


class Department(Frozen):
    code: str = Field(pattern=CODE)
    label: Label
    duties: Label


class Recurrence(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    TERMLY = "termly"
    YEARLY = "yearly"


class PreventionMeasure(Frozen):
    """A standing measure: recurs, is owned by a grid role at units of one kind, counts as done per unit."""

    code: str = Field(pattern=CODE)
    label: Label
    every: Recurrence
    # Time allowed to complete one round after it opens, e.g. 14d for a termly screening.
    allow: Duration
    owner_role: str = Field(pattern=CODE)  # a grid role (people.rules.Role), checked by the loader
    unit_kind: str = Field(pattern=CODE)  # the grid unit kind each round is done for (class, dorm, college…)
    evidence: Label | None = None


class WarningSource(StrEnum):
    CHECKLIST = "checklist"  # an observation checklist item (sop/observation_checklist.yaml)
    OPINION = "opinion"  # an online-opinion report at a grade (sop/opinion.yaml)
    SIGNAL = "signal"  # a campus-data signal a person confirmed
    HAZARD = "hazard"  # a hazard in the ledger
    HOTLINE = "hotline"  # a call or a walk-in


class Opens(StrEnum):
    """What a matching trigger does: open the incident at once, or ask the counsellor to confirm one."""

    AUTO = "auto"
    CONFIRM = "confirm"


# A checklist trigger's time of day, e.g. the night from 22:00 to 07:00.
During = TimeWindow


class WarningTrigger(Frozen):
    """What opens an incident of this type, and at which level it starts.

    A checklist trigger may ask for more than its item: filed within a time of day (`during`), or with
    another ticked item of one of `with_category`; a trigger with both conditions needs either."""

    source: WarningSource
    # A checklist item, signal or hazard code, or an opinion grade (minor, III, II, I): checked below.
    item: str | None = None
    level: LevelField
    opens: Opens = Opens.AUTO
    during: During | None = None
    with_category: tuple[str, ...] = ()
    note: Label | None = None

    @model_validator(mode="after")
    def _item_fits_source(self) -> WarningTrigger:
        if self.item is None:
            if self.source in (WarningSource.CHECKLIST, WarningSource.OPINION):
                refuse(("item",), f"a {self.source} trigger names its item", None)
        elif self.source is WarningSource.OPINION:
            if self.item not in GRADES:
                refuse(("item",), f"{self.item!r} is not an opinion grade; write one of {', '.join(GRADES)}", self.item)
        elif not re.fullmatch(CODE, self.item):
            refuse(("item",), f"{self.item!r} is not a code (lower case letters, digits and _)", self.item)
        if self.opens is Opens.CONFIRM and self.level < Level.III:
            refuse(("opens",), "a level Ⅰ or Ⅱ trigger opens its incident at once; only Ⅲ and Ⅳ may ask to confirm", "confirm")
        if (self.during is not None or self.with_category) and self.source is not WarningSource.CHECKLIST:
            refuse(("during",), "only a checklist trigger has conditions", None)
        return self

    def matches(self, warning: TriggerFacts) -> bool:
        """Whether `warning` meets this trigger: its item, and any condition on time or other ticks."""
        if self.source != warning.source or self.item not in warning.items:
            return False
        if self.during is None and not self.with_category:
            return True
        at_time = self.during is not None and warning.local_time is not None and self.during.covers(warning.local_time)
        others = {category for item, category in warning.categories.items() if item != self.item}
        return at_time or bool(others & set(self.with_category))


@dataclass(frozen=True)
class TriggerFacts:
    """What a warning says, for matching triggers: its source, its items (checklist codes, a grade),
    the category of each ticked item, and the local time of day it was filed."""

    source: WarningSource
    items: Collection[str]
    categories: Mapping[str, str] = field(default_factory=dict)
    local_time: time | None = None


class Task(Frozen):
    """A step's task: owner role, deadline from the incident's start per level, checklist.

    The task applies to an incident only at the levels listed in `due`."""

    code: str = Field(pattern=CODE)
    label: Label
    owner: IcsRole
    due: dict[LevelField, Duration] = Field(min_length=1)
    stream: int | None = Field(default=None, ge=0)  # index of the SOP state's parallel stream
    checklist: tuple[Label, ...] = ()
    needs_evidence: bool = False

    def due_after_start(self, level: Level) -> timedelta | None:
        return self.due.get(level)


class Step(Frozen):
    """The tasks of one crisis-SOP state."""

    state: str = Field(pattern=CODE)
    tasks: tuple[Task, ...] = Field(min_length=1)


class Handover(Frozen):
    """What the recovery stage takes over (counselling follow-up, review meeting …)."""

    code: str = Field(pattern=CODE)
    label: Label
    within: Duration
    owner: IcsRole


class Templates(Frozen):
    """Message templates; `{placeholders}` are filled from the incident."""

    family_contact: Label
    public_statement: Label


class Revision(Frozen):
    """What changed in one version of the playbook and why: written by the system when a revision proposed
    from a review's improvement action is adopted (see reviews.revisions)."""

    version: int = Field(ge=2)
    adopted: date
    why: str = Field(min_length=1)
    # Each change in both languages as the system words it on adopting ({zh: …, en: …}), or a line written by hand.
    changes: tuple[Label | str, ...] = Field(min_length=1)
    # Where the revision came from, e.g. "incident 12, improvement action 3".
    source: str = ""


def refuse(loc: tuple[str | int, ...], reason: str, value: object) -> NoReturn:
    """Fail validation at `loc`, so a file error names that very line."""
    refuse_all("Playbook", [(loc, reason, value)])


class Playbook(Frozen):
    type: str = Field(pattern=CODE)
    version: int = Field(ge=1)
    label: Label
    category: Category
    summary: Label
    grading: tuple[GradeRule, ...] = Field(min_length=4, max_length=4)
    roles: tuple[RoleDuty, ...] = Field(min_length=1)
    departments: tuple[Department, ...] = Field(min_length=1)
    prevention: tuple[PreventionMeasure, ...] = Field(min_length=1)
    warning: tuple[WarningTrigger, ...] = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1)
    recovery: tuple[Handover, ...] = Field(min_length=1)
    templates: Templates
    # The record of past versions, oldest first; the system appends to it (keep it the file's last key).
    revisions: tuple[Revision, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        problems = _duplicates(((("grading", i, "level"), g.level.name) for i, g in enumerate(self.grading)), "level")
        previous = 1
        for i, revision in enumerate(self.revisions):
            if not previous < revision.version <= self.version:
                problems.append(
                    (
                        ("revisions", i, "version"),
                        f"must be above {previous} and at most the playbook's version",
                        revision.version,
                    )
                )
            previous = revision.version
        if IcsRole.COMMANDER not in {r.role for r in self.roles}:
            problems.append((("roles",), "a playbook needs a commander", None))
        problems += _duplicates(((("roles", i, "role"), r.role.value) for i, r in enumerate(self.roles)), "role")
        problems += _duplicates(((("departments", i, "code"), d.code) for i, d in enumerate(self.departments)), "department")
        problems += _duplicates(((("prevention", i, "code"), m.code) for i, m in enumerate(self.prevention)), "measure")
        problems += _duplicates(((("recovery", i, "code"), h.code) for i, h in enumerate(self.recovery)), "handover")
        problems += _duplicates(((("steps", i, "state"), s.state) for i, s in enumerate(self.steps)), "state")
        tasks = ((("steps", i, "tasks", j, "code"), t.code) for i, s in enumerate(self.steps) for j, t in enumerate(s.tasks))
        problems += _duplicates(tasks, "task")
        if problems:
            refuse_all("Playbook", problems)
        return self

    def tasks_for(self, state: str, level: Level) -> list[Task]:
        """The tasks an incident at `level` gets on entering `state`."""
        return [t for s in self.steps if s.state == state for t in s.tasks if level in t.due]

    def task(self, code: str) -> Task | None:
        return next((t for s in self.steps for t in s.tasks if t.code == code), None)

    def grade(self, level: Level) -> GradeRule:
        return next(g for g in self.grading if g.level == level)


def _duplicates(items: Iterable[tuple[tuple[str | int, ...], str]], what: str) -> list[Problem]:
    """A problem at each repeat of a code (the first one stands)."""
    seen: set[str] = set()
    problems: list[Problem] = []
    for loc, code in items:
        if code in seen:
            problems.append((loc, f"{what} {code!r} is defined twice", code))
        seen.add(code)
    return problems


def sop_problems(playbook: Playbook, sop: CrisisSop) -> list[tuple[tuple[str | int, ...], str]]:
    """Where a playbook does not fit the crisis SOP: unknown or final states, streams missing or out of range."""
    states = {s.code: s for s in sop.states}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, step in enumerate(playbook.steps):
        state = states.get(step.state)
        if state is None:
            problems.append((("steps", i, "state"), f"{step.state!r} is not a state of crisis SOP v{sop.version}"))
            continue
        if state.final:
            problems.append((("steps", i, "state"), f"{step.state!r} is a final state; no work happens there"))
        for j, task in enumerate(step.tasks):
            if task.stream is None and state.streams:
                # A task outside every stream would belong to no task group on the board.
                problems.append(
                    (
                        ("steps", i, "tasks", j),
                        f"state {step.state!r} has {len(state.streams)} parallel streams; "
                        f"say which one with stream: 0 to {len(state.streams) - 1}",
                    )
                )
            elif task.stream is not None and task.stream >= len(state.streams):
                problems.append(
                    (
                        ("steps", i, "tasks", j, "stream"),
                        f"state {step.state!r} has {len(state.streams)} parallel streams; {task.stream} is out of range",
                    )
                )
    return problems


def checklist_facts(
    checklist: Checklist, ticks: Iterable[str], local_time: time | None, known: Iterable[str] = ()
) -> TriggerFacts:
    """What an observation says for matching triggers: its ticks, the categories of the ticks and of
    the items the student's known risk factors count as (a condition may be met by a factor), and the
    local time filed."""
    ticked, also = set(ticks), set(known)
    categories = {item.code: item.category for item in checklist.items if item.code in ticked | also}
    return TriggerFacts(WarningSource.CHECKLIST, ticked, categories, local_time)


@dataclass(frozen=True)
class Suggestion:
    """The incident a warning calls for: of which playbook, at which level, opened at once or confirmed."""

    playbook: Playbook
    level: Level
    opens: Opens


def suggest(playbooks: Iterable[Playbook], warning: TriggerFacts) -> Suggestion | None:
    """The incident a warning calls for: of every playbook trigger `warning` meets, the gravest level;
    at the same level one that opens at once before one that asks to confirm, then the first playbook
    listed. None when no trigger matches."""
    best: Suggestion | None = None
    for playbook in playbooks:
        for trigger in playbook.warning:
            if not trigger.matches(warning):
                continue
            found = Suggestion(playbook, trigger.level, trigger.opens)
            if best is None or _graver(found, best):
                best = found
    return best


def _graver(found: Suggestion, best: Suggestion) -> bool:
    if found.level != best.level:
        return found.level < best.level
    return found.opens is Opens.AUTO and best.opens is Opens.CONFIRM


def never_chosen(playbooks: Sequence[Playbook]) -> list[tuple[str, int, str]]:
    """The triggers `suggest` can never choose, as (playbook type, trigger index, why): another trigger
    on the same item, with no condition, always wins over them (graver, or as grave and opening at
    once, or as grave and listed first). Such a trigger is dead data: nothing can produce its incident."""
    ranked = [(p, i, t) for p in playbooks for i, t in enumerate(p.warning) if t.item is not None]
    dead = []
    for order, (playbook, index, trigger) in enumerate(ranked):
        for other_order, (other, other_index, rival) in enumerate(ranked):
            if rival is trigger or rival.source != trigger.source or rival.item != trigger.item:
                continue
            if rival.during is not None or rival.with_category:
                continue  # it does not always match
            mine, theirs = Suggestion(playbook, trigger.level, trigger.opens), Suggestion(other, rival.level, rival.opens)
            tied = not _graver(mine, theirs) and not _graver(theirs, mine)
            if _graver(theirs, mine) or (tied and other_order < order):
                where = f"{other.type}.yaml warning.{other_index}"
                why = (
                    f"never chosen: {where} ({rival.item} → {rival.level.numeral}, {rival.opens}) always wins over it;"
                    " narrow that one with during/with_category, or drop this one"
                )
                dead.append((playbook.type, index, why))
                break
    return dead
