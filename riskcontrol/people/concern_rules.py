"""Pure rules of the key-concern register: the cadence file as validated data, and when talks and reviews fall due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, field_validator

from riskcontrol.core.durations import Duration
from riskcontrol.core.i18n import listing, phrase
from riskcontrol.core.shapes import Frozen, Label

Level = Literal["blue", "yellow", "orange", "red"]
LEVELS: tuple[str, ...] = get_args(Level)
# Blue may be left out: a school that keeps only warning levels on the register refuses blue.
REQUIRED_LEVELS: tuple[str, ...] = ("yellow", "orange", "red")
TalkMode = Literal["in_person", "phone", "online"]
RiskChange = Literal["up", "same", "down"]


def _longer_than_zero(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


Interval = Annotated[Duration, AfterValidator(_longer_than_zero)]


class LevelCadence(Frozen):
    """How often a student at one level must be talked with, and how long a missed talk may wait."""

    label: Label
    talk_every: Interval
    escalate_after: Interval


class ReviewRule(Frozen):
    """When an entry is reviewed (keep, change the level, or close): `every` after its start."""

    every: Interval


class KeyConcernRules(Frozen):
    """The whole `key_concern.yaml`: cadence per level and the review rule."""

    version: str = Field(min_length=1)
    levels: dict[Level, LevelCadence]
    review: ReviewRule

    @field_validator("levels")
    @classmethod
    def _warning_levels_present(cls, levels: dict[str, LevelCadence]) -> dict[str, LevelCadence]:
        if missing := [name for name in REQUIRED_LEVELS if name not in levels]:
            raise ValueError(f"every warning level needs a cadence; missing: {', '.join(missing)}")
        return levels


class UnknownLevel(ValueError):
    """A level the register does not keep (not a colour, or blue left out of the file)."""

    def __init__(self, level: str, kept: tuple[str, ...]) -> None:
        super().__init__(f"the register keeps levels {', '.join(kept)}; not {level!r}")
        self.level = level
        self.phrase = phrase("refusal.concern.unknown_level", level=level, kept=listing(phrase(f"level.{k}") for k in kept))


def rank(level: str) -> int:
    """0 for blue up to 3 for red; unknown colours rank below blue."""
    return LEVELS.index(level) if level in LEVELS else -1


def cadence_of(rules: KeyConcernRules, level: str) -> LevelCadence:
    """The cadence of `level`, or UnknownLevel naming the levels the register keeps."""
    for name, cadence in rules.levels.items():
        if name == level:
            return cadence
    raise UnknownLevel(level, tuple(name for name in LEVELS if name in rules.levels))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; the register works on aware UTC times")
    return moment.astimezone(UTC)


def next_talk_due(
    level: str, last_talk_or_start: datetime, rules: KeyConcernRules, *, not_before: datetime | None = None
) -> datetime:
    """When the next talk is due: the level's interval after the last talk (or the start).

    With `not_before` (now), a due time already past is moved to it: raising a student from weekly
    to daily contact after five quiet days means a talk is due today, not a reminder dated last week.
    """
    due = _aware(last_talk_or_start) + cadence_of(rules, level).talk_every
    return max(due, _aware(not_before)) if not_before is not None else due


def escalate_at(level: str, due_at: datetime, rules: KeyConcernRules) -> datetime:
    """When the college is told that the talk due at `due_at` was missed."""
    return _aware(due_at) + cadence_of(rules, level).escalate_after


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    """Whether a talk due at `due_at` is missing at `now` (no due time: nothing is owed)."""
    return due_at is not None and _aware(now) >= _aware(due_at)


def default_review_on(started_at: datetime, rules: KeyConcernRules, tz: ZoneInfo) -> date:
    """The local date an entry started at `started_at` is reviewed unless someone sets another."""
    return (_aware(started_at).astimezone(tz) + rules.review.every).date()


def review_due(review_on: date, today: date) -> bool:
    """Whether an entry with review date `review_on` is due for review on the local date `today`."""
    return today >= review_on


@dataclass(frozen=True, slots=True)
class RegisterConfig:
    """What the register's use cases need: the cadence file in force and the school's time zone."""

    rules: KeyConcernRules
    tz: ZoneInfo


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A student to put on the register; no counsellor named means the caller or the class's own."""

    student_id: int
    level: str
    reasons: str
    counselor_id: int | None = None
    review_on: date | None = None
    # Why, as codes of the one catalogue (checklist items, which risk factors count as too).
    reason_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EntryChange:
    """What to change on an entry; None leaves a field as it is. A new level needs a reason."""

    level: str | None = None
    counselor_id: int | None = None
    review_on: date | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TalkNote:
    """A talk as the counsellor records it; `summary` is a case note, never a clinical record."""

    talked_at: datetime
    mode: str
    summary: str
    risk_change: str
