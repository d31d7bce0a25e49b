"""Periods on the school's calendar: codes, openings and closings in Shanghai time, the shortest of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from riskcontrol.core.periods import Calendar, Every, Period, Terms, shortest

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = Calendar(SHANGHAI)


def local(text: str) -> datetime:
    """A Shanghai wall-clock time, as the aware UTC moment it is."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("moment", "every", "period"),
    [
        ("2026-11-28 22:00", Every.WEEK, ("2026-W48", "2026-11-23 00:00", "2026-11-30 00:00")),
        ("2027-01-03 23:59", Every.WEEK, ("2026-W53", "2026-12-28 00:00", "2027-01-04 00:00")),
        ("2026-11-28 22:00", Every.MONTH, ("2026-11", "2026-11-01 00:00", "2026-12-01 00:00")),
        ("2026-12-31 23:59", Every.MONTH, ("2026-12", "2026-12-01 00:00", "2027-01-01 00:00")),
        ("2026-11-28 22:00", Every.TERM, ("2026-autumn", "2026-09-01 00:00", "2027-02-20 00:00")),
        ("2027-01-10 08:00", Every.TERM, ("2026-autumn", "2026-09-01 00:00", "2027-02-20 00:00")),
        ("2027-02-20 00:00", Every.TERM, ("2027-spring", "2027-02-20 00:00", "2027-09-01 00:00")),
        ("2027-03-01 08:00", Every.YEAR, ("2026-2027", "2026-09-01 00:00", "2027-09-01 00:00")),
    ],
)
def test_a_moment_falls_in_one_period_of_each_recurrence(moment: str, every: Every, period: tuple[str, str, str]) -> None:
    code, opens, closes = period
    assert CALENDAR.period(local(moment), every) == Period(code, local(opens), local(closes))


def test_the_month_turns_at_midnight_in_shanghai_not_at_midnight_utc() -> None:
    first_of_december_0030 = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # still 30 November in UTC
    assert CALENDAR.period(first_of_december_0030, Every.MONTH).code == "2026-12"
    assert Calendar(UTC).period(first_of_december_0030, Every.MONTH).code == "2026-11"


def test_current_codes_give_one_code_per_recurrence_and_they_never_clash() -> None:
    codes = CALENDAR.current_codes(local("2026-12-01 06:30"))
    assert codes == {Every.WEEK: "2026-W49", Every.MONTH: "2026-12", Every.TERM: "2026-autumn", Every.YEAR: "2026-2027"}
    assert len(set(codes.values())) == len(codes)


def test_the_shortest_period_of_each_recurrence() -> None:
    assert shortest(Every.WEEK) == timedelta(days=7)
    assert shortest(Every.MONTH) == timedelta(days=28)
    assert shortest(Every.TERM) == timedelta(days=172)  # 1 September to 20 February
    assert shortest(Every.TERM, Terms(autumn=(9, 1), spring=(3, 1))) == timedelta(days=181)


def test_terms_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot open on 2-29"):
        Terms(spring=(2, 29))
    with pytest.raises(ValueError, match="spring term opens before the autumn term"):
        Terms(autumn=(2, 1), spring=(9, 1))
