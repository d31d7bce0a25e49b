"""Pure rules of public-opinion (舆情) items: the policy file, grading, the first-report due time and the weekly risk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Annotated, Literal, Self, TypeVar, get_args

from pydantic import Field, StringConstraints, model_validator

from riskcontrol.core.durations import Duration
from riskcontrol.core.i18n import Phrase, listing, phrase, word
from riskcontrol.core.shapes import Frozen
from riskcontrol.grid.rules import UnitKind
from riskcontrol.observations.rules import Text, _fail  # _fail: a file error that names the very line, as in triage
from riskcontrol.people.rules import Role, role_unit_problem

GradeCode = Literal["minor", "III", "II", "I"]
GRADES: tuple[str, ...] = get_args(GradeCode)  # least serious first
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Channel = Literal["in_app", "sms"]


def rank(grade: str) -> int:
    """0 for minor up to 3 for Ⅰ."""
    return GRADES.index(grade)


class Grade(Frozen):
    code: GradeCode
    label: Text
    threshold: int = Field(ge=0)
    weekly_points: int = Field(ge=0, le=1000)


class Band(Frozen):
    """From `at_least` up to the next band, a count adds `weight` points."""

    at_least: int = Field(ge=0)
    weight: int = Field(ge=0, le=100)
    label: Text


class Bands(Frozen):
    label: Text
    bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _climbing(self) -> Self:
        if self.bands[0].at_least != 0:
            raise _fail(type(self), ("bands", 0, "at_least"), "the first band starts at 0 so every count falls in one")
        for i, (low, high) in enumerate(pairwise(self.bands), start=1):
            if high.at_least <= low.at_least:
                raise _fail(type(self), ("bands", i, "at_least"), f"must be above {low.at_least}")
            if high.weight < low.weight:
                # More spread must never lower the grade.
                raise _fail(type(self), ("bands", i, "weight"), f"must not be below {low.weight}")
        return self

    def band_for(self, count: int) -> Band:
        """The highest band that `count` reaches."""
        return [band for band in self.bands if count >= band.at_least][-1]


class Spread(Frozen):
    platforms: Bands
    reposts: Bands
    views: Bands


class Option(Frozen):
    """One answer to a grading question (a platform, a media level, an authority, a topic): points and a grade floor."""

    code: Code
    label: Text
    weight: int = Field(default=0, ge=0, le=100)
    min_grade: GradeCode | None = None


class Trend(Frozen):
    code: Code
    label: Text
    weekly_points: int = Field(ge=0, le=1000)


class Audience(Frozen):
    """Who is told at one grid level above the item's unit, and over which channels."""

    label: Text
    grid_level: UnitKind
    roles: tuple[Role, ...] = Field(min_length=1)
    channels: tuple[Channel, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _roles_held_there(self) -> Self:
        if self.grid_level not in (UnitKind.SCHOOL, UnitKind.COLLEGE):
            raise _fail(type(self), ("grid_level",), "opinion items are told at the college or the school")
        for i, role in enumerate(self.roles):
            if (problem := role_unit_problem(role, self.grid_level)) is not None:
                raise _fail(type(self), ("roles", i), problem)
        return self


class FirstReport(Frozen):
    label: Text
    report_within: Annotated[Duration, Field(gt=timedelta(0))]
    measured_from: Literal["discovery"]  # stated in the file, but the data cannot move the clock's start
    report_to: Audience
    may_acknowledge: tuple[Role, ...] = Field(min_length=1)
    on_breach: Audience


class RiskBand(Frozen):
    code: Code
    label: Text
    min_score: int = Field(ge=0)
    colour: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


class WeeklyReview(Frozen):
    label: Text
    active_points: int = Field(ge=0, le=1000)
    unknown_trend_points: int = Field(ge=0, le=1000)
    bands: tuple[RiskBand, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _descending(self) -> Self:
        for i, (high, low) in enumerate(pairwise(self.bands), start=1):
            if low.min_score >= high.min_score:
                raise _fail(type(self), ("bands", i, "min_score"), f"bands go most serious first; must be below {high.min_score}")
        if self.bands[-1].min_score != 0:
            raise _fail(type(self), ("bands", len(self.bands) - 1, "min_score"), "the last band starts at 0")
        return self

    def band_for(self, score: int) -> RiskBand:
        return next(band for band in self.bands if score >= band.min_score)


class OpinionPolicy(Frozen):
    """`sop/opinion.yaml`: grades, the major ones, the first-report rule, grading facts and weekly bands."""

    version: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    grades: tuple[Grade, ...]
    major_grades: tuple[GradeCode, ...] = Field(min_length=1)
    first_report: FirstReport
    platforms: tuple[Option, ...] = Field(min_length=1)
    spread: Spread
    media: tuple[Option, ...]
    attention: tuple[Option, ...]
    topics: tuple[Option, ...]
    trends: tuple[Trend, ...] = Field(min_length=1)
    weekly_review: WeeklyReview

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (found := [g.code for g in self.grades]) != list(GRADES):
            raise _fail(type(self), ("grades",), f"grades must be {', '.join(GRADES)} in that order, not {found}")
        if self.grades[0].threshold != 0:
            raise _fail(type(self), ("grades", 0, "threshold"), "the lowest grade starts at 0 so every item reaches it")
        for i, (low, high) in enumerate(pairwise(self.grades), start=1):
            if high.threshold <= low.threshold:
                raise _fail(type(self), ("grades", i, "threshold"), f"must be above {low.code}'s {low.threshold}")
        # Ⅰ and Ⅱ are 重大舆情 in every plan found: a school may add Ⅲ to the first-report rule, never drop them.
        lowest = min(rank(g) for g in self.major_grades)
        if lowest > rank("II") or set(self.major_grades) != set(GRADES[lowest:]):
            raise _fail(type(self), ("major_grades",), "must run from the lowest major grade up to I, and include II and I")
        for field in ("platforms", "media", "attention", "topics", "trends"):
            codes = [item.code for item in getattr(self, field)]
            if (dup := next((n for n, code in enumerate(codes) if code in codes[:n]), None)) is not None:
                raise _fail(type(self), (field, dup, "code"), f"duplicate code {codes[dup]!r}")
        return self

    def grade(self, code: str) -> Grade:
        return self.grades[rank(code)]


_Coded = TypeVar("_Coded", Option, Trend)


class InvalidFact(ValueError):
    """A grading fact the policy does not know; `field` names the input at fault."""

    def __init__(self, field: str, reason: Phrase) -> None:
        super().__init__(f"{field}: {word('en', reason)}")
        self.field, self.reason = field, reason


def pick(options: Sequence[_Coded], field: str, codes: Iterable[str | None]) -> list[_Coded]:
    """The options named by `codes`, in file order so the same facts always read the same reasons."""
    wanted = {code for code in codes if code is not None}
    if unknown := sorted(wanted - {option.code for option in options}):
        known = listing((option.label for option in options), style="or")
        raise InvalidFact(field, phrase("refusal.opinion.unknown_option", code=unknown[0], known=known))
    return [option for option in options if option.code in wanted]


@dataclass(frozen=True, slots=True)
class OpinionFacts:
    """What the filer knows about an item: where it is, how far it has gone, what it touches."""

    platforms: tuple[str, ...]
    reposts: int = 0
    views: int = 0
    media: str | None = None
    attention: str | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the item reaches at least `grade`: the points, or a fact with a floor of its own."""

    code: str
    grade: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class OpinionGrade:
    level: str
    major: bool
    score: int
    reasons: tuple[Reason, ...]


def grade(policy: OpinionPolicy, facts: OpinionFacts) -> OpinionGrade:
    """The grade of an item, with reasons (decisive first); unknown codes raise InvalidFact naming the field."""
    platforms = pick(policy.platforms, "platforms", facts.platforms)
    if not platforms:
        raise InvalidFact("platforms", phrase("refusal.opinion.platform_missing"))
    if facts.reposts < 0 or facts.views < 0:
        field = "reposts" if facts.reposts < 0 else "views"
        raise InvalidFact(field, phrase("refusal.opinion.negative", what=phrase(f"refusal.field.{field}")))
    chosen = platforms + pick(policy.media, "media", [facts.media]) + pick(policy.attention, "attention", [facts.attention])
    chosen += pick(policy.topics, "topics", facts.topics)
    counted = (
        (policy.spread.platforms, len(platforms)),
        (policy.spread.reposts, facts.reposts),
        (policy.spread.views, facts.views),
    )
    parts = [(bands.label, f" {n:,}", bands.band_for(n).weight) for bands, n in counted]
    parts += [(option.label, "", option.weight) for option in chosen]
    score = sum(weight for _, _, weight in parts)
    by_score = [g for g in policy.grades if score >= g.threshold][-1]
    zh = "、".join(f"{label.zh}{n} +{w}" for label, n, w in parts if w) or "无加分项"
    en = "; ".join(f"{label.en}{n} +{w}" for label, n, w in parts if w) or "nothing adds points"
    zh = f"传播与敏感度合计 {score} 分（{zh}），达到“{by_score.label.zh}”（{by_score.threshold} 分起）"
    en = f"{score} points for spread and sensitivity ({en}), reaching {by_score.label.en} (from {by_score.threshold})"
    reasons = [Reason("score", by_score.code, zh, en)]
    for option in chosen:
        if option.min_grade not in (None, "minor"):
            floor = policy.grade(option.min_grade).label
            zh, en = f"{option.label.zh}，至少为“{floor.zh}”", f"{option.label.en}, which is at least {floor.en}"
            reasons.append(Reason(option.code, option.min_grade, zh, en))
    ordered = tuple(sorted(reasons, key=lambda reason: -rank(reason.grade)))
    level = ordered[0].grade
    return OpinionGrade(level=level, major=level in policy.major_grades, score=score, reasons=ordered)


def first_report_due(discovered_at: datetime, policy: OpinionPolicy) -> datetime:
    """When the first report of a major item is due (aware UTC): the clock starts at discovery, not at filing."""
    if discovered_at.utcoffset() is None:
        raise ValueError(f"{discovered_at.isoformat()} has no time zone; the due time needs an aware discovery time")
    return discovered_at.astimezone(UTC) + policy.first_report.report_within


@dataclass(frozen=True, slots=True)
class WeeklyItem:
    id: int
    grade: str
    trend: str | None
    active: bool
    discovered_at: datetime


@dataclass(frozen=True, slots=True)
class WeeklyRisk:
    item: WeeklyItem
    score: int
    band: RiskBand


def weekly_risk(policy: OpinionPolicy, items: Iterable[WeeklyItem]) -> list[WeeklyRisk]:
    """Items scored by grade, trend and whether still active, highest risk first."""
    review = policy.weekly_review
    scored = []
    for item in items:
        # A trend code dropped from the file since filing counts as a trend not judged.
        trend = next((t.weekly_points for t in policy.trends if t.code == item.trend), review.unknown_trend_points)
        score = policy.grade(item.grade).weekly_points + trend + (review.active_points if item.active else 0)
        scored.append(WeeklyRisk(item=item, score=score, band=review.band_for(score)))
    # Ties: the graver grade, then the item that has been out longest, then filing order.
    return sorted(scored, key=lambda r: (-r.score, -rank(r.item.grade), r.item.discovered_at, r.item.id))
