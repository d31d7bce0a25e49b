"""Prevention measures as recurring rounds, pure: periods in the school's time zone, due times, who may
sign a round off, what a completion must carry, and coverage counts over a set of rounds.

A measure recurs weekly, monthly, termly or yearly; its rounds belong to the periods of `core.periods`
(an ISO week `2026-W48`, a month `2026-11`, a term `2026-autumn`, an academic year `2026-2027`), which
open at local midnight; times are returned in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Final, NamedTuple, Protocol

from riskcontrol.core import periods
from riskcontrol.core.i18n import Phrase, phrase
from riskcontrol.core.periods import TERMS, Every
from riskcontrol.core.periods import Terms as Terms  # a school's term days are set here too
from riskcontrol.incidents.playbook_rules import Recurrence

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


# The playbooks' recurrences (`weekly` in their YAML) are the calendar's.
EVERY: Final = {
    Recurrence.WEEKLY: Every.WEEK,
    Recurrence.MONTHLY: Every.MONTH,
    Recurrence.TERMLY: Every.TERM,
    Recurrence.YEARLY: Every.YEAR,
}


class Period(NamedTuple):
    """One period of a recurrence: its code (the `period` of its rounds) and when it opens, in UTC."""

    code: str
    opens_at: datetime


@dataclass(frozen=True)
class Calendar:
    """The school's calendar for rounds: its time zone and term days, reckoned by `core.periods`."""

    tz: tzinfo
    terms: Terms = field(default_factory=Terms)

    def _span(self, moment: datetime, every: Recurrence) -> periods.Period:
        return periods.Calendar(self.tz, self.terms).period(moment, EVERY[every])

    def period(self, moment: datetime, every: Recurrence) -> Period:
        """The period of `every` that `moment` falls in, reckoned on the school's local calendar."""
        code, opens_at, _closes_at = self._span(moment, every)
        return Period(code, opens_at)

    def closes_at(self, moment: datetime, every: Recurrence) -> datetime:
        """When the period of `every` that `moment` falls in closes (the next one opens), in UTC."""
        return self._span(moment, every).closes_at

    def current_codes(self, moment: datetime) -> dict[Recurrence, str]:
        """The period code of each recurrence at `moment` (the codes of different recurrences never clash)."""
        return {every: self.period(moment, every).code for every in Recurrence}


def period_of(moment: datetime, every: Recurrence, tz: tzinfo, terms: Terms = TERMS) -> Period:
    """The period of `every` that `moment` falls in, reckoned on the school's local calendar."""
    return Calendar(tz, terms).period(moment, every)


def next_opening(moment: datetime, every: Recurrence, tz: tzinfo, terms: Terms = TERMS) -> datetime:
    """When the period after the one `moment` falls in opens (so also when this one closes), in UTC."""
    return Calendar(tz, terms).closes_at(moment, every)


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
) -> tuple[str, Phrase] | None:
    """Why a completion cannot be recorded, as (field, reason), or None when it can."""
    text = (evidence or "").strip()
    if evidence_required and not text:
        return "evidence", phrase("refusal.prevention.evidence")
    if len(text) > MAX_EVIDENCE:
        return "evidence", phrase("refusal.prevention.evidence_long", max=MAX_EVIDENCE)
    if (covered is None) != (population is None):
        missing = "population" if population is None else "covered"
        return missing, phrase("refusal.prevention.counts_together")
    if covered is not None and population is not None:
        if not 1 <= population <= MAX_PEOPLE:
            return "population", phrase("refusal.prevention.population", max=MAX_PEOPLE)
        if not 0 <= covered <= population:
            return "covered", phrase("refusal.prevention.covered", population=population)
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
