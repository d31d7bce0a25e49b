"""The school calendar: "the next working day" skips public holidays and counts the weekend days
worked in their place (调休), as sop/calendar.yaml lists them."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from riskcontrol.core.workdays import WEEKDAYS, WorkCalendar
from riskcontrol.escalation.policy import load_calendar, load_policy
from riskcontrol.escalation.rules import ack_deadline
from riskcontrol.settings import PROJECT_ROOT

SOP_DIR = PROJECT_ROOT / "sop"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = load_calendar(SOP_DIR)


@pytest.mark.parametrize(
    ("after", "next_working"),
    [
        (date(2026, 9, 30), date(2026, 10, 8)),  # 国庆节 1–7 October
        (date(2026, 10, 9), date(2026, 10, 10)),  # Saturday 10 October is worked (调休)
        (date(2026, 2, 13), date(2026, 2, 14)),  # Saturday 14 February is worked before the Spring Festival
        (date(2026, 2, 14), date(2026, 2, 24)),  # 春节 15–23 February
        (date(2026, 12, 31), date(2027, 1, 1)),  # 2027 not listed yet: Monday to Friday
        (date(2026, 3, 6), date(2026, 3, 9)),  # an ordinary Friday
    ],
)
def test_the_next_working_day_follows_the_published_holidays(after: date, next_working: date) -> None:
    assert CALENDAR.next_working_day(after) == next_working


def test_a_yellow_step_told_before_national_day_is_due_on_the_first_working_day_after_it() -> None:
    counselor = load_policy(SOP_DIR).levels["yellow"].chain[0]
    told = datetime(2026, 9, 30, 14, 0, tzinfo=SHANGHAI)
    assert ack_deadline(counselor, told, SHANGHAI, CALENDAR) == datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI)
    # Without the calendar it would have fallen due on 1 October, a holiday.
    assert ack_deadline(counselor, told, SHANGHAI, WEEKDAYS) == datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("years", "problem"),
    [
        ({2026: {"working_weekends": ["2026-03-04"]}}, "is a weekday"),
        ({2026: {"holidays": ["2027-01-01"]}}, "is listed under 2026"),
    ],
)
def test_a_calendar_that_contradicts_itself_is_refused(years: dict[int, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        WorkCalendar.model_validate({"version": "x", "years": years})
