"""Recurring periods on a school's local calendar: ISO weeks, months, terms and academic years.

A week is coded `2026-W48` (opening Monday 00:00), a month `2026-11`, a term `2026-autumn` (opening
1 September) or `2027-spring` (opening 20 February), an academic year `2026-2027` (opening with the
autumn term). Every period opens at local midnight and closes when the next one opens; times are
returned in UTC. Nothing here knows what recurs: inspections and the like bring their own meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Final, NamedTuple

MonthDay = tuple[int, int]


class Every(StrEnum):
    """How often something recurs."""

    WEEK = "week"
    MONTH = "month"
    TERM = "term"
    YEAR = "year"


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


TERMS: Final = Terms()


class Period(NamedTuple):
    """One period: its code, when it opens and when it closes (the next one opens), in UTC."""

    code: str
    opens_at: datetime
    closes_at: datetime


def _span(day: date, every: Every, terms: Terms) -> tuple[str, date, date]:
    """The code, first day and the next period's first day of the period holding the local `day`."""
    match every:
        case Every.WEEK:
            monday = day - timedelta(days=day.weekday())
            iso = day.isocalendar()
            return f"{iso.year}-W{iso.week:02d}", monday, monday + timedelta(days=7)
        case Every.MONTH:
            first = day.replace(day=1)
            return f"{first:%Y-%m}", first, date(first.year + first.month // 12, first.month % 12 + 1, 1)
        case Every.TERM:
            autumn, spring = date(day.year, *terms.autumn), date(day.year, *terms.spring)
            if day >= autumn:
                return f"{day.year}-autumn", autumn, date(day.year + 1, *terms.spring)
            if day >= spring:
                return f"{day.year}-spring", spring, autumn
            return f"{day.year - 1}-autumn", date(day.year - 1, *terms.autumn), spring
        case Every.YEAR:
            year = day.year if day >= date(day.year, *terms.autumn) else day.year - 1
            return f"{year}-{year + 1}", date(year, *terms.autumn), date(year + 1, *terms.autumn)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def shortest(every: Every, terms: Terms = TERMS) -> timedelta:
    """The shortest a period of `every` can be (February; the shorter term), in whole local days."""
    match every:
        case Every.WEEK:
            return timedelta(days=7)
        case Every.MONTH:
            return timedelta(days=28)
        case Every.TERM:
            autumn = date(2001, *terms.autumn)
            return min(autumn - date(2001, *terms.spring), date(2002, *terms.spring) - autumn)
        case Every.YEAR:
            return timedelta(days=365)


@dataclass(frozen=True)
class Calendar:
    """The school's calendar: its time zone and term days."""

    tz: tzinfo
    terms: Terms = field(default_factory=Terms)

    def period(self, moment: datetime, every: Every) -> Period:
        """The period of `every` that `moment` falls in, reckoned on the school's local calendar."""
        code, first, after = _span(moment.astimezone(self.tz).date(), every, self.terms)
        return Period(code, _midnight(first, self.tz), _midnight(after, self.tz))

    def current_codes(self, moment: datetime, everies: tuple[Every, ...] = tuple(Every)) -> dict[Every, str]:
        """The period code of each of `everies` at `moment` (codes of different recurrences never clash)."""
        return {every: self.period(moment, every).code for every in everies}
