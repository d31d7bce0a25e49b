"""Prevention measures as recurring rounds, pure: periods in the school's time zone, due times, who may
sign a round off, what a completion must carry, and coverage counts over a set of rounds.

A weekly round belongs to an ISO week (`2026-W48`, opening Monday 00:00), a monthly one to a calendar
month (`2026-11`), a termly one to a term (`2026-autumn` opening 1 September, `2027-spring` opening
20 February) and a yearly one to an academic year (`2026-2027`, opening with the autumn term). Every
period opens at local midnight; times are returned in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Final, NamedTuple, Protocol

from riskcontrol.incidents.playbook_rules import Recurrence

MonthDay = tuple[int, int]

# A round created within this long of its period's opening is "on time" (the daily job opens rounds at
# 06:00) and is due `allow` after the opening; a round opened later (a new class, a new system) gets
# its full allowance from when it was opened, but never past the end of its period.
ON_TIME: Final = timedelta(days=1)

# Those who answer for a unit may sign its rounds off for its owner; a safety officer also for the
# buildings and rooms in their care. Admins keep accounts and are trusted to correct the record.
ABOVE_OWNER: Final = frozenset({"counselor", "college_officer", "student_affairs", "admin"})
PLACES: Final = frozenset({"building", "dorm"})
# At most this many people are counted for one round (a whole school's assembly).
MAX_PEOPLE: Final = 100_000
MAX_EVIDENCE: Final = 2000


@dataclass(frozen=True)
class Terms:
    """The days the school's terms open (month, day); the academic year opens with the autumn term."""

    autumn: MonthDay = (9, 1)
    spring: MonthDay = (2, 20)

    def __post_init__(self) -> None:
        for name, (month, day) in (("autumn", self.autumn), ("spring", self.spring)):
            try:
                date(2001, month, day)  # not a leap year: 29 February would vanish three years in four
            except ValueError as exc:
                raise ValueError(f"the {name} term cannot open on {month}-{day}: {exc}") from None
        if self.spring >= self.autumn:
            raise ValueError("the spring term opens before the autumn term in the calendar year")

    def autumn_of(self, year: int) -> date:
        return date(year, *self.autumn)

    def spring_of(self, year: int) -> date:
        return date(year, *self.spring)


TERMS: Final = Terms()


class Period(NamedTuple):
    """One period of a recurrence: its code (the `period` of its rounds) and when it opens, in UTC."""

    code: str
    opens_at: datetime


def _span(day: date, every: Recurrence, terms: Terms) -> tuple[str, date, date]:
    """The code, first day and the next period's first day of the period holding the local `day`."""
    match every:
        case Recurrence.WEEKLY:
            monday = day - timedelta(days=day.weekday())
            iso = day.isocalendar()
            return f"{iso.year}-W{iso.week:02d}", monday, monday + timedelta(days=7)
        case Recurrence.MONTHLY:
            first = day.replace(day=1)
            after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return f"{first:%Y-%m}", first, after
        case Recurrence.TERMLY:
            year = day.year
            if day >= terms.autumn_of(year):
                return f"{year}-autumn", terms.autumn_of(year), terms.spring_of(year + 1)
            if day >= terms.spring_of(year):
                return f"{year}-spring", terms.spring_of(year), terms.autumn_of(year)
            return f"{year - 1}-autumn", terms.autumn_of(year - 1), terms.spring_of(year)
        case Recurrence.YEARLY:
            year = day.year if day >= terms.autumn_of(day.year) else day.year - 1
            return f"{year}-{year + 1}", terms.autumn_of(year), terms.autumn_of(year + 1)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def period_of(moment: datetime, every: Recurrence, tz: tzinfo, terms: Terms = TERMS) -> Period:
    """The period of `every` that `moment` falls in, reckoned on the school's local calendar."""
    code, first, _after = _span(moment.astimezone(tz).date(), every, terms)
    return Period(code, _midnight(first, tz))


def next_opening(moment: datetime, every: Recurrence, tz: tzinfo, terms: Terms = TERMS) -> datetime:
    """When the period after the one `moment` falls in opens (so also when this one closes), in UTC."""
    _code, _first, after = _span(moment.astimezone(tz).date(), every, terms)
    return _midnight(after, tz)


@dataclass(frozen=True)
class Calendar:
    """The school's calendar for rounds: its time zone and term days."""

    tz: tzinfo
    terms: Terms = field(default_factory=Terms)

    def period(self, moment: datetime, every: Recurrence) -> Period:
        return period_of(moment, every, self.tz, self.terms)

    def closes_at(self, moment: datetime, every: Recurrence) -> datetime:
        return next_opening(moment, every, self.tz, self.terms)

    def current_codes(self, moment: datetime) -> dict[Recurrence, str]:
        """The period code of each recurrence at `moment` (the codes of different recurrences never clash)."""
        return {every: self.period(moment, every).code for every in Recurrence}


def due_at(opens_at: datetime, allow: timedelta, closes_at: datetime, opened_at: datetime) -> datetime:
    """When a round opened at `opened_at` for a period from `opens_at` to `closes_at` falls due."""
    on_schedule = opens_at + allow
    if opened_at <= opens_at + ON_TIME:
        return on_schedule
    return max(on_schedule, min(opened_at + allow, closes_at))


def completers(owner_role: str, unit_kind: str) -> frozenset[str]:
    """The roles that may sign off a round owned by `owner_role` at a unit of `unit_kind` (held at or above it)."""
    roles = {owner_role, *ABOVE_OWNER}
    if unit_kind in PLACES:
        roles.add("safety_officer")
    return frozenset(roles)


def completion_problem(
    *, evidence_required: bool, evidence: str | None, covered: int | None, population: int | None
) -> tuple[str, str] | None:
    """Why a completion cannot be recorded, as (field, reason), or None when it can."""
    text = (evidence or "").strip()
    if evidence_required and not text:
        return "evidence", "this measure is signed off with its evidence; describe or link it"
    if len(text) > MAX_EVIDENCE:
        return "evidence", f"at most {MAX_EVIDENCE} characters"
    if (covered is None) != (population is None):
        missing = "population" if population is None else "covered"
        return missing, "give both how many took part and how many should have"
    if covered is not None and population is not None:
        if not 1 <= population <= MAX_PEOPLE:
            return "population", f"between 1 and {MAX_PEOPLE}"
        if not 0 <= covered <= population:
            return "covered", f"between 0 and the population ({population})"
    return None


class Bucket(StrEnum):
    """Where a round stands at a moment."""

    DONE = "done"
    DUE = "due"  # open, its due time still ahead
    OVERDUE = "overdue"
    UPCOMING = "upcoming"  # its period has not opened yet


def bucket(*, done: bool, opens_at: datetime, due_at: datetime, now: datetime) -> Bucket:
    if done:
        return Bucket.DONE
    if now >= due_at:
        return Bucket.OVERDUE
    return Bucket.DUE if now >= opens_at else Bucket.UPCOMING


class RoundFacts(Protocol):
    """What coverage needs of a round (a MeasureRound row has it)."""

    @property
    def opens_at(self) -> datetime: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def done_at(self) -> datetime | None: ...
    @property
    def late(self) -> bool: ...
    @property
    def covered(self) -> int | None: ...
    @property
    def population(self) -> int | None: ...


@dataclass(frozen=True)
class Tally:
    """Coverage of a set of rounds: how many are done (of them late), due, overdue and not yet open,
    and, where rounds counted people, how many of how many took part."""

    done: int = 0
    late: int = 0
    due: int = 0
    overdue: int = 0
    upcoming: int = 0
    covered: int = 0
    population: int = 0

    @property
    def total(self) -> int:
        return self.done + self.due + self.overdue + self.upcoming

    @property
    def percent_done(self) -> int | None:
        """Whole percent of rounds done, rounded down (100 only when every round is done); None for no rounds."""
        return self.done * 100 // self.total if self.total else None

    @property
    def percent_covered(self) -> int | None:
        """Whole percent of the people counted who took part, rounded down; None when nobody was counted."""
        return self.covered * 100 // self.population if self.population else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            done=self.done + other.done,
            late=self.late + other.late,
            due=self.due + other.due,
            overdue=self.overdue + other.overdue,
            upcoming=self.upcoming + other.upcoming,
            covered=self.covered + other.covered,
            population=self.population + other.population,
        )


def tally_one(facts: RoundFacts, now: datetime) -> Tally:
    """The coverage one round contributes at `now`."""
    where = bucket(done=facts.done_at is not None, opens_at=facts.opens_at, due_at=facts.due_at, now=now)
    counted = where is Bucket.DONE and facts.population is not None
    return Tally(
        done=int(where is Bucket.DONE),
        late=int(where is Bucket.DONE and facts.late),
        due=int(where is Bucket.DUE),
        overdue=int(where is Bucket.OVERDUE),
        upcoming=int(where is Bucket.UPCOMING),
        covered=(facts.covered or 0) if counted else 0,
        population=(facts.population or 0) if counted else 0,
    )


def tally(rounds: Iterable[RoundFacts], now: datetime) -> Tally:
    """The coverage of `rounds` at `now`."""
    total = Tally()
    for facts in rounds:
        total += tally_one(facts, now)
    return total
