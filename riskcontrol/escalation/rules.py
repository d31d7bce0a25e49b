"""Pure escalation rules: the policy as validated data and the planner of who is told when."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any, Literal, NoReturn, Self, get_args
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from riskcontrol.core.durations import Duration, format_duration
from riskcontrol.core.shapes import Frozen, Label
from riskcontrol.core.workdays import WEEKDAYS, WorkCalendar
from riskcontrol.grid.rules import UnitKind
from riskcontrol.people.rules import Role, role_unit_problem

Level = Literal["blue", "yellow", "orange", "red"]
LEVELS: tuple[str, ...] = get_args(Level)


class Channel(StrEnum):
    IN_APP = "in_app"
    SMS = "sms"
    VOICE = "voice"


# Lowest first; buildings group rooms physically and answer for no student, so no chain stops there.
CHAIN_LEVELS: tuple[UnitKind, ...] = (UnitKind.DORM, UnitKind.CLASS, UnitKind.COLLEGE, UnitKind.SCHOOL)

_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _clock_time(value: object) -> object:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and (match := _HH_MM.fullmatch(value.strip())):
        return time(int(match[1]), int(match[2]))
    # YAML 1.1 reads an unquoted 23:00 as the number 1380, so the hint says to quote it.
    raise ValueError(f'{value!r} is not a clock time; write it quoted as "HH:MM", e.g. "23:00"')


# A local wall-clock time in data files, written and serialised as "HH:MM".
ClockTime = Annotated[time, BeforeValidator(_clock_time), PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)]


def _refuse(loc: tuple[str | int, ...], reason: str, value: object) -> NoReturn:
    """Fail validation at `loc` below the model being checked, so a file error names that very line."""
    error = PydanticCustomError("escalation_policy", "{reason}", {"reason": reason})
    raise ValidationError.from_exception_data("EscalationPolicy", [InitErrorDetails(type=error, loc=loc, input=value)])


class _Audience(Frozen):
    """Who is told at one grid level, and over which channels."""

    grid_level: UnitKind
    label: Label
    roles: tuple[Role, ...] = Field(min_length=1)
    channels: tuple[Channel, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _roles_held_at_the_level(self) -> _Audience:
        if self.grid_level not in CHAIN_LEVELS:
            _refuse(("grid_level",), f"a chain climbs {' → '.join(CHAIN_LEVELS)}; not {self.grid_level}", self.grid_level)
        for loc, values in ((("roles",), self.roles), (("channels",), self.channels)):
            if len(set(values)) != len(values):
                _refuse(loc, "names an entry twice", list(values))
        for i, role in enumerate(self.roles):
            if (problem := role_unit_problem(role, self.grid_level)) is not None:
                _refuse(("roles", i), problem, role)
        return self


class AckBy(Frozen):
    """A calendar deadline: the working day after the day the step is told, at a local time."""

    next_working_day_at: ClockTime


class Also(Frozen):
    """Others told at the same time as a step, over its channels, who may acknowledge it too (the
    psychological centre beside the counsellor, so a same-day assessment can be booked)."""

    grid_level: UnitKind
    roles: tuple[Role, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _roles_held_at_the_level(self) -> Also:
        if self.grid_level not in CHAIN_LEVELS:
            _refuse(("grid_level",), f"one of {', '.join(CHAIN_LEVELS)}; not {self.grid_level}", self.grid_level)
        for i, role in enumerate(self.roles):
            if (problem := role_unit_problem(role, self.grid_level)) is not None:
                _refuse(("roles", i), problem, role)
        return self


class StepPolicy(_Audience):
    ack_within: Duration | None = None
    ack_by: AckBy | None = None
    repeat_every: Duration | None = None
    repeat_channels: tuple[Channel, ...] | None = None
    also: tuple[Also, ...] = ()

    def audiences(self) -> tuple[tuple[UnitKind, tuple[Role, ...]], ...]:
        """Who is told at this step: its own grid level and roles, then each `also`."""
        return ((self.grid_level, self.roles), *((a.grid_level, a.roles) for a in self.also))

    @model_validator(mode="after")
    def _one_deadline_and_sane_repeats(self) -> StepPolicy:
        if (self.ack_within is None) == (self.ack_by is None):
            _refuse(("ack_within",), "a step needs exactly one of ack_within (e.g. 5m) or ack_by", self.ack_within)
        for name in ("ack_within", "repeat_every"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                _refuse((name,), "must be longer than 0s", format_duration(value))
        if self.repeat_channels is not None and self.repeat_every is None:
            _refuse(("repeat_channels",), "only makes sense with repeat_every", list(self.repeat_channels))
        return self


class TimeWindow(Frozen):
    """A local time-of-day window written `from: "23:00"`, `to: "07:00"` (it may wrap past midnight);
    written back with the same names, so a snapshot of it reads back."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    starts: ClockTime = Field(alias="from")
    ends: ClockTime = Field(alias="to")

    @model_validator(mode="after")
    def _a_real_window(self) -> Self:
        if self.starts == self.ends:
            _refuse(("to",), "the window must end at another time than it starts", self.ends.strftime("%H:%M"))
        return self

    def covers(self, local: time) -> bool:
        """Whether a local clock time falls in the window."""
        if self.starts < self.ends:
            return self.starts <= local < self.ends
        return local >= self.starts or local < self.ends


class NightRule(TimeWindow):
    """Channels added to a notice told at night, when an in-app message would lie unseen."""

    label: Label
    add_channels: tuple[Channel, ...] = Field(min_length=1)


class DigestRule(_Audience):
    """A level handled without a live chain: gathered into a daily digest at a local time."""

    every: Literal["daily"]
    at: ClockTime


class LevelPolicy(Frozen):
    label: Label
    chain: tuple[StepPolicy, ...] = ()
    night: NightRule | None = None
    digest: DigestRule | None = None

    @model_validator(mode="after")
    def _chain_climbs(self) -> LevelPolicy:
        if not self.chain and self.digest is None:
            _refuse(("chain",), "a level needs a chain of steps, a digest, or both", [])
        for i, (lower, higher) in enumerate(pairwise(self.chain), start=1):
            if CHAIN_LEVELS.index(higher.grid_level) <= CHAIN_LEVELS.index(lower.grid_level):
                reason = f"the chain must climb {' → '.join(CHAIN_LEVELS)}; {higher.grid_level} cannot follow {lower.grid_level}"
                _refuse(("chain", i, "grid_level"), reason, higher.grid_level)
        return self


class Rung(_Audience):
    """One rung of the night ladder: at a local clock time, a grid level is told over its channels."""

    at: ClockTime


class NightLadder(TimeWindow):
    """The night check (查寝): a student not back in the dorm is reported up the grid at fixed clock
    times until found, whatever the level's own chain does and whoever acknowledged it. It applies to
    an observation ticking one of `items` filed between `from` and `to`; a rung whose time passed
    before the filing is told at once."""

    label: Label
    items: tuple[str, ...] = Field(min_length=1)
    rungs: tuple[Rung, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rungs_in_night_order(self) -> NightLadder:
        for i, rung in enumerate(self.rungs):
            if not self.covers(rung.at):
                _refuse(("rungs", i, "at"), "falls outside the ladder's night", rung.at.strftime("%H:%M"))
        for i, (earlier, later) in enumerate(pairwise(self.rungs), start=1):
            if self._since_start(later.at) <= self._since_start(earlier.at):
                _refuse(("rungs", i, "at"), "rungs go in the order of the night", later.at.strftime("%H:%M"))
        return self

    def _since_start(self, local: time) -> timedelta:
        start = timedelta(hours=self.starts.hour, minutes=self.starts.minute)
        return (timedelta(hours=local.hour, minutes=local.minute, seconds=local.second) - start) % timedelta(days=1)

    def applies(self, ticks: Iterable[str], filed_at: datetime, tz: ZoneInfo) -> bool:
        """Whether an observation ticking `ticks` filed at `filed_at` starts the ladder."""
        return bool(set(self.items) & set(ticks)) and self.covers(_aware_utc(filed_at).astimezone(tz).time())

    def rung_times(self, filed_at: datetime, tz: ZoneInfo) -> list[datetime]:
        """When each rung is told (aware UTC) for a filing at `filed_at` inside the night: its clock time
        that night, or the filing time itself when that has passed."""
        local = _aware_utc(filed_at).astimezone(tz)
        night_start = local - self._since_start(local.time())
        times = []
        for rung in self.rungs:
            times.append(max(_aware_utc(night_start + self._since_start(rung.at)), _aware_utc(filed_at)))
        return times


class EscalationPolicy(Frozen):
    channels: dict[Channel, Label]
    levels: dict[Level, LevelPolicy]
    night_ladder: NightLadder | None = None

    @model_validator(mode="after")
    def _every_level_and_channel_labelled(self) -> EscalationPolicy:
        for loc, names, known in (("levels", self.levels, LEVELS), ("channels", self.channels, tuple(Channel))):
            if missing := [name for name in known if name not in names]:
                _refuse((loc,), f"every one needs an entry; missing: {', '.join(missing)}", sorted(names))
        return self


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of a plan: who is told, when, over which channels, and by when they must acknowledge."""

    index: int
    grid_level: UnitKind
    label: Label
    roles: tuple[Role, ...]
    channels: tuple[Channel, ...]
    notify_at: datetime
    ack_due_at: datetime
    repeat_every: timedelta | None
    # Before the night rule: each repeat goes out at its own time, so apply `channels_at` then.
    repeat_channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class EscalationPlan:
    """The live steps of an escalation in order, and the digest it joins (if any)."""

    steps: tuple[PlannedStep, ...]
    digest_at: datetime | None


def _at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; the planner works on aware UTC times")
    return moment.astimezone(UTC)


def ack_deadline(step: StepPolicy, told_at: datetime, tz: ZoneInfo, calendar: WorkCalendar = WEEKDAYS) -> datetime:
    """When a step told at `told_at` must have acknowledged (aware UTC); calendar rules use `tz` and
    the school's working days (`calendar`: holidays and the weekend days worked in their place)."""
    told_at = _aware_utc(told_at)
    if step.ack_within is not None:
        return told_at + step.ack_within
    assert step.ack_by is not None  # the model holds exactly one of the two
    day = calendar.next_working_day(told_at.astimezone(tz).date())
    return _at_local(day, step.ack_by.next_working_day_at, tz)


def channels_at(level: LevelPolicy, channels: tuple[Channel, ...], at: datetime, tz: ZoneInfo) -> tuple[Channel, ...]:
    """The channels of a notice sent at `at`: `channels`, plus the night rule's when it is night in `tz`."""
    if level.night is None or not level.night.covers(_aware_utc(at).astimezone(tz).time()):
        return channels
    return channels + tuple(c for c in level.night.add_channels if c not in channels)


def next_digest_at(digest: DigestRule, after: datetime, tz: ZoneInfo) -> datetime:
    """The first digest time strictly after `after` (aware UTC)."""
    local = _aware_utc(after).astimezone(tz)
    candidate = _at_local(local.date(), digest.at, tz)
    return candidate if candidate > after else _at_local(local.date() + timedelta(days=1), digest.at, tz)


def plan_level(level: LevelPolicy, started_at: datetime, tz: ZoneInfo, calendar: WorkCalendar = WEEKDAYS) -> EscalationPlan:
    """The plan for one level's policy, e.g. the one frozen onto a running escalation."""
    notify_at = _aware_utc(started_at)
    steps = []
    for index, step in enumerate(level.chain):
        ack_due_at = ack_deadline(step, notify_at, tz, calendar)
        steps.append(
            PlannedStep(
                index=index,
                grid_level=step.grid_level,
                label=step.label,
                roles=step.roles,
                channels=channels_at(level, step.channels, notify_at, tz),
                notify_at=notify_at,
                ack_due_at=ack_due_at,
                repeat_every=step.repeat_every,
                repeat_channels=(step.repeat_channels or step.channels) if step.repeat_every is not None else (),
            )
        )
        # Nobody acknowledged in time: the next level up is told the moment this window closes.
        notify_at = ack_due_at
    digest_at = next_digest_at(level.digest, started_at, tz) if level.digest is not None else None
    return EscalationPlan(steps=tuple(steps), digest_at=digest_at)


def plan(
    policy: EscalationPolicy, level: str, started_at: datetime, tz: ZoneInfo, calendar: WorkCalendar = WEEKDAYS
) -> EscalationPlan:
    """Who is told when for an escalation of `level` starting at `started_at` (aware UTC)."""
    return plan_level(level_policy(policy, level), started_at, tz, calendar)


def warning_level(
    policy: EscalationPolicy,
    level: str,
    *,
    grade_within: timedelta | None,
    started_at: datetime,
    tz: ZoneInfo,
    calendar: WorkCalendar = WEEKDAYS,
) -> LevelPolicy:
    """The level policy an observation's escalation is frozen with: its level's, with the first step's
    window cut to `grade_within` when an item asks a person to grade it sooner (see `with_first_window`)."""
    return with_first_window(level_policy(policy, level), grade_within, started_at, tz, calendar)


def with_first_window(
    level: LevelPolicy, within: timedelta | None, started_at: datetime, tz: ZoneInfo, calendar: WorkCalendar = WEEKDAYS
) -> LevelPolicy:
    """`level` with its first step's window cut to `within` when that is shorter (an item a person must
    grade within hours, on a level that would wait for the next working day); else `level` itself."""
    if within is None or not level.chain:
        return level
    first = level.chain[0]
    if ack_deadline(first, started_at, tz, calendar) - _aware_utc(started_at) <= within:
        return level
    cut = first.model_copy(update={"ack_within": within, "ack_by": None})
    return level.model_copy(update={"chain": (cut, *level.chain[1:])})


def level_policy(policy: EscalationPolicy, level: str) -> LevelPolicy:
    """The policy of one triage level; an unknown level is a ValueError naming the known ones."""
    for name, found in policy.levels.items():
        if name == level:
            return found
    raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")


def reach_after(level: LevelPolicy, grid_level: UnitKind) -> timedelta | None:
    """How long after the start `grid_level` is told at the latest; None if never or only by calendar."""
    elapsed = timedelta(0)
    for step in level.chain:
        if step.grid_level == grid_level:
            return elapsed
        if step.ack_within is None:
            return None
        elapsed += step.ack_within
    return None


def check_red_reaches_school_within(policy: EscalationPolicy, minutes: int) -> str | None:
    """Why red does not reach the school within `minutes` of the start, or None when it does."""
    after = reach_after(level_policy(policy, "red"), UnitKind.SCHOOL)
    if after is None or after > timedelta(minutes=minutes):
        when = "never on a fixed clock" if after is None else f"after {format_duration(after)}"
        return f"red reaches the school {when}, not within {minutes}m"
    return None


def snapshot(level: LevelPolicy) -> dict[str, Any]:
    """A JSON-safe copy of one level's policy (durations as '5m'), to freeze onto an escalation."""
    return level.model_dump(mode="json", by_alias=True, exclude_none=True)


def from_snapshot(data: Mapping[str, Any]) -> LevelPolicy:
    """The level policy frozen by `snapshot`, validated again."""
    return LevelPolicy.model_validate(dict(data))
