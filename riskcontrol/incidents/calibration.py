"""The triage calibration set (`sop/calibration.yaml`): written cases, each run through the real
checklist, rubric, escalation policy and playbooks, and compared with what a school expects.

A case is filed, in effect, on a reference Wednesday (weekday) or Saturday (weekend) at its local
time. What it is compared on: the level; who is told first and how long they have to acknowledge
(or the digest a blue level joins); whether the night-check ladder runs; and which incident opens,
at what level, at once or on confirmation. Every answer comes from the same functions the filing,
the escalation and the worker use, so the set checks the shipped rules, not a copy of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Final, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, model_validator

from riskcontrol.core.datafiles import load_model
from riskcontrol.core.durations import Duration, format_duration
from riskcontrol.core.shapes import Frozen
from riskcontrol.core.workdays import WEEKDAYS, WorkCalendar
from riskcontrol.escalation import rules as escalation_rules
from riskcontrol.escalation.rules import ClockTime, EscalationPolicy
from riskcontrol.incidents.playbook_rules import LevelField, Opens, Playbook, checklist_facts, suggest
from riskcontrol.observations.rules import Checklist, Known, LevelCode, TriageRubric, grading_window, triage
from riskcontrol.people.factor_rules import FactorCatalogue
from riskcontrol.people.rules import Role

CALIBRATION_FILE: Final = "calibration.yaml"
# The days a case is filed on: an ordinary Wednesday and Saturday with no holiday near them.
REFERENCE_DAYS: Final = {"weekday": date(2026, 3, 4), "weekend": date(2026, 3, 7)}
LEVELS: Final = tuple(LevelCode)
# What the set must reach: no red case graded below red, and this share of cases exact.
TARGET_EXACT: Final = 0.95


Text = Annotated[str, Field(min_length=1, max_length=500)]


class Source(Frozen):
    title: Text
    url: str = Field(pattern=r"^https?://")


class Story(Frozen):
    zh: Text
    en: Text


class FirstTold(Frozen):
    """Who is told first and how long they have to acknowledge; or, for a level without a live
    chain, the local time of the digest it joins."""

    roles: tuple[Role, ...] = ()
    within: Duration | None = None
    digest: ClockTime | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.digest is None) == (self.within is None) or (self.within is not None and not self.roles):
            raise ValueError("give roles and within, or digest alone")
        return self

    def text(self) -> str:
        if self.digest is not None:
            return f"digest {self.digest.strftime('%H:%M')}"
        return f"{'+'.join(sorted(self.roles))} within {format_duration(self.within or timedelta(0))}"


class ExpectedIncident(Frozen):
    type: str
    level: LevelField
    opens: Opens

    def text(self) -> str:
        return f"{self.type} {self.level.numeral} {self.opens}"


def _none_is_none(value: object) -> object:
    return None if value == "none" else value


class Expect(Frozen):
    level: LevelCode
    first: FirstTold
    ladder: bool = False
    incident: Annotated[ExpectedIncident | None, BeforeValidator(_none_is_none)]


class Case(Frozen):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    sources: tuple[str, ...] = Field(min_length=1)
    story: Story
    ticks: tuple[str, ...] = Field(min_length=1)
    note: str | None = None
    at: ClockTime
    day: Literal["weekday", "weekend"] = "weekday"
    # Already on the key-concern register at this level (`register:` in the file).
    on_register: LevelCode | None = Field(default=None, alias="register")
    # Risk factors imported about the student (codes of sop/risk_factors.yaml).
    factors: tuple[str, ...] = ()
    expect: Expect


class CalibrationSet(Frozen):
    version: Text
    sources: dict[str, Source]
    cases: tuple[Case, ...] = Field(min_length=80)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: set[str] = set()
        for case in self.cases:
            if case.code in seen:
                raise ValueError(f"case {case.code!r} appears twice")
            seen.add(case.code)
            if unknown := [key for key in case.sources if key not in self.sources]:
                raise ValueError(f"case {case.code!r} cites unknown sources {unknown}")
        return self


def load_calibration(sop_dir: Path) -> CalibrationSet:
    """The calibration set in `sop_dir`; DataFileError names file, line and field."""
    return load_model(sop_dir / CALIBRATION_FILE, CalibrationSet)


@dataclass(frozen=True)
class Rules:
    """Everything a case runs through, as shipped."""

    checklist: Checklist
    rubric: TriageRubric
    policy: EscalationPolicy
    playbooks: Sequence[Playbook]
    tz: ZoneInfo
    factors: FactorCatalogue
    calendar: WorkCalendar = WEEKDAYS


@dataclass(frozen=True)
class Outcome:
    """What the rules did with one case, and where that differs from what was expected."""

    case: Case
    level: LevelCode
    first: str
    ladder: bool
    incident: str
    misses: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return not self.misses


def run_case(rules: Rules, case: Case) -> Outcome:
    """File `case` on its reference day through the shipped rules and compare with its expectation."""
    unknown = [code for code in case.ticks if code not in {item.code for item in rules.checklist.items}]
    if unknown:
        raise ValueError(f"case {case.code!r} ticks unknown checklist codes {unknown}")
    filed_at = datetime.combine(REFERENCE_DAYS[case.day], case.at, tzinfo=rules.tz)
    factors = [rules.factors.get(code) for code in case.factors]
    if None in factors:
        raise ValueError(f"case {case.code!r} names unknown risk factors {list(case.factors)}")
    known = [Known(f.item, f.zh, f.en) for f in factors if f is not None]
    result = triage(rules.checklist, rules.rubric, case.ticks, key_concern_level=case.on_register, known=known)
    level = escalation_rules.warning_level(
        rules.policy,
        result.level.value,
        grade_within=grading_window(rules.checklist, case.ticks),
        started_at=filed_at,
        tz=rules.tz,
        calendar=rules.calendar,
    )
    if level.chain:
        step = escalation_rules.plan_level(level, filed_at, rules.tz, rules.calendar).steps[0]
        roles = sorted({role.value for _, held in level.chain[0].audiences() for role in held})
        first = f"{'+'.join(roles)} within {format_duration(step.ack_due_at - filed_at)}"
    else:
        assert level.digest is not None
        first = f"digest {level.digest.at.strftime('%H:%M')}"
    ladder = rules.policy.night_ladder is not None and rules.policy.night_ladder.applies(case.ticks, filed_at, rules.tz)
    found = suggest(rules.playbooks, checklist_facts(rules.checklist, case.ticks, case.at, [k.item for k in known]))
    incident = "none" if found is None else f"{found.playbook.type} {found.level.numeral} {found.opens}"
    expect = case.expect
    wanted_incident = "none" if expect.incident is None else expect.incident.text()
    misses = [
        f"{what}: expected {want}, got {got}"
        for what, want, got in (
            ("level", expect.level.value, result.level.value),
            ("first told", expect.first.text(), first),
            ("night ladder", expect.ladder, ladder),
            ("incident", wanted_incident, incident),
        )
        if want != got
    ]
    return Outcome(case, result.level, first, ladder, incident, tuple(misses))


def run(rules: Rules, calibration: CalibrationSet) -> list[Outcome]:
    return [run_case(rules, case) for case in calibration.cases]


@dataclass(frozen=True)
class Verdict:
    cases: int
    exact: int
    red_below_red: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.exact / self.cases if self.cases else 0.0

    @property
    def met(self) -> bool:
        return not self.red_below_red and self.share >= TARGET_EXACT


def verdict(outcomes: Sequence[Outcome]) -> Verdict:
    below = tuple(o.case.code for o in outcomes if o.case.expect.level is LevelCode.RED and o.level is not LevelCode.RED)
    return Verdict(len(outcomes), sum(o.exact for o in outcomes), below)


def matrix(outcomes: Sequence[Outcome]) -> str:
    """The confusion matrix of levels (rows expected, columns as graded), then exactness and the misses."""
    counts = {(want, got): 0 for want in LEVELS for got in LEVELS}
    for outcome in outcomes:
        counts[(outcome.case.expect.level, outcome.level)] += 1
    width = max(len(level.value) for level in LEVELS) + 2
    lines = ["expected \\ graded".ljust(18) + "".join(level.value.rjust(width) for level in LEVELS) + "total".rjust(width)]
    for want in LEVELS:
        row = [counts[(want, got)] for got in LEVELS]
        lines.append(want.value.ljust(18) + "".join(str(n).rjust(width) for n in row) + str(sum(row)).rjust(width))
    found = verdict(outcomes)
    lines.append("")
    lines.append(f"exact (level, first told, night ladder, incident): {found.exact}/{found.cases} = {found.share:.1%}")
    lines.append(f"red cases graded below red: {len(found.red_below_red)}")
    for outcome in outcomes:
        if outcome.misses:
            lines.append(f"  {outcome.case.code}: " + "; ".join(outcome.misses))
    return "\n".join(lines)
