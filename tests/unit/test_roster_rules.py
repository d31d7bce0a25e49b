"""The duty roster's rules: gaps, overlaps, shift checks and the time of the daily check."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from riskcontrol.core.clock import next_local
from riskcontrol.core.i18n import translate
from riskcontrol.incidents import roster_rules as rules
from riskcontrol.incidents.roster_rules import Gap, Position

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Shanghai on 2026-12-`day`, as UTC."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_back_to_back_twelve_hour_shifts_leave_no_gap() -> None:
    shifts = [(at(1, 8), at(1, 20)), (at(1, 20), at(2, 8))]
    assert rules.gaps(shifts, at(1, 8), at(2, 8)) == []


def test_nobody_rostered_is_one_gap_over_the_whole_window() -> None:
    assert rules.gaps([], at(1, 8), at(2, 8)) == [(at(1, 8), at(2, 8))]


def test_a_late_start_an_hour_between_shifts_and_an_early_end_are_three_gaps() -> None:
    shifts = [(at(1, 9), at(1, 19)), (at(1, 20), at(2, 7))]
    assert rules.gaps(shifts, at(1, 8), at(2, 8)) == [
        (at(1, 8), at(1, 9)),
        (at(1, 19), at(1, 20)),
        (at(2, 7), at(2, 8)),
    ]


def test_shifts_reaching_outside_the_window_are_clipped_to_it() -> None:
    shifts = [(at(1, 0), at(1, 12)), (at(1, 18), at(3, 0))]
    assert rules.gaps(shifts, at(1, 8), at(2, 8)) == [(at(1, 12), at(1, 18))]


def test_overlapping_and_nested_shifts_count_once_in_any_order() -> None:
    shifts = [(at(1, 14), at(1, 16)), (at(1, 8), at(1, 15)), (at(1, 10), at(1, 12)), (at(1, 17), at(1, 20))]
    assert rules.gaps(shifts, at(1, 8), at(1, 20)) == [(at(1, 16), at(1, 17))]


def test_shifts_wholly_outside_the_window_do_not_cover_it() -> None:
    shifts = [(at(1, 0), at(1, 8)), (at(2, 8), at(2, 20))]
    assert rules.gaps(shifts, at(1, 8), at(2, 8)) == [(at(1, 8), at(2, 8))]


def test_an_empty_window_has_no_gap() -> None:
    assert rules.gaps([], at(1, 8), at(1, 8)) == []


def test_a_missing_lead_is_high_and_a_missing_deputy_medium_lead_first_at_the_same_moment() -> None:
    shifts = [(Position.LEAD, (at(1, 8), at(1, 20))), (Position.DEPUTY, (at(1, 8), at(1, 14)))]
    found = rules.coverage_gaps(shifts, at(1, 8), at(2, 8))
    assert found == [
        Gap(Position.DEPUTY, at(1, 14), at(2, 8)),
        Gap(Position.LEAD, at(1, 20), at(2, 8)),
    ]
    assert [g.severity for g in found] == ["medium", "high"]
    both = rules.coverage_gaps([], at(1, 8), at(1, 20))
    assert [(g.position, g.severity) for g in both] == [(Position.LEAD, "high"), (Position.DEPUTY, "medium")]


def test_a_deputy_on_duty_does_not_cover_a_missing_lead() -> None:
    found = rules.coverage_gaps([(Position.DEPUTY, (at(1, 8), at(1, 20)))], at(1, 8), at(1, 20))
    assert found == [Gap(Position.LEAD, at(1, 8), at(1, 20))]


@pytest.mark.parametrize(
    ("a", "b", "clash"),
    [
        ((at(1, 8), at(1, 20)), (at(1, 20), at(2, 8)), False),  # one ends as the next starts
        ((at(1, 8), at(1, 20)), (at(1, 19), at(2, 8)), True),
        ((at(1, 8), at(1, 20)), (at(1, 10), at(1, 11)), True),  # nested
        ((at(1, 10), at(1, 11)), (at(1, 8), at(1, 20)), True),
        ((at(1, 8), at(1, 9)), (at(1, 10), at(1, 11)), False),
    ],
)
def test_shifts_overlap_only_when_they_share_a_moment(
    a: tuple[datetime, datetime], b: tuple[datetime, datetime], clash: bool
) -> None:
    assert rules.overlaps(a, b) is clash
    assert rules.overlaps(b, a) is clash


def test_the_first_overlap_is_the_earliest_clashing_shift() -> None:
    mine = [(at(2, 8), at(2, 20)), (at(1, 8), at(1, 20)), (at(1, 20), at(2, 8))]
    assert rules.first_overlap((at(1, 19), at(2, 9)), mine) == (at(1, 8), at(1, 20))
    assert rules.first_overlap((at(3, 8), at(3, 20)), mine) is None


@pytest.mark.parametrize(
    ("starts", "ends", "problem"),
    [
        (at(2, 8), at(2, 20), None),
        (at(2, 8), at(3, 8), None),  # 24 hours is the most
        (at(1, 21), at(2, 8), None),  # under way now
        (at(2, 8), at(2, 8), ("ends_at", "A shift must end after it starts.")),
        (at(2, 20), at(2, 8), ("ends_at", "A shift must end after it starts.")),
        (at(2, 8), at(3, 8, 1), ("ends_at", "A shift lasts at most 24 hours.")),
        (at(1, 8), at(1, 20), ("ends_at", "The shift is wholly in the past.")),
        (at(1, 10), at(1, 22), ("ends_at", "The shift is wholly in the past.")),  # ended just now
        (
            datetime(2027, 12, 3, 8, tzinfo=UTC),
            datetime(2027, 12, 3, 20, tzinfo=UTC),
            ("starts_at", "A shift starts within a year from now."),
        ),
        (
            datetime(9999, 12, 31, 8, tzinfo=UTC),
            datetime(9999, 12, 31, 20, tzinfo=UTC),
            ("starts_at", "A shift starts within a year from now."),
        ),
    ],
)
def test_a_new_shift_ends_after_it_starts_lasts_a_day_at_most_and_is_not_over(
    starts: datetime, ends: datetime, problem: tuple[str, str] | None
) -> None:
    found = rules.shift_problem(starts, ends, now=at(1, 22))
    assert (found and (found[0], translate("en", found[1].key, **found[1].params))) == problem


@pytest.mark.parametrize(
    ("after", "due"),
    [
        (at(1, 8, 59), at(1, 9)),
        (at(1, 9), at(2, 9)),  # strictly after: the check that just ran is not the next
        (at(1, 22), at(2, 9)),
        (at(31, 23, 30), datetime(2027, 1, 1, 1, 0, tzinfo=UTC)),  # over the year's end
    ],
)
def test_the_daily_check_is_the_next_nine_oclock_in_shanghai(after: datetime, due: datetime) -> None:
    next_check = next_local(after, SHANGHAI, time(9, 0))
    assert next_check == due
    assert next_check.tzinfo is UTC
    assert next_check.astimezone(SHANGHAI).time() == time(9, 0)


def test_the_daily_check_follows_a_zone_with_summer_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)
    after_change = next_local(before, berlin, time(9, 0))
    assert after_change.astimezone(berlin) == datetime(2026, 3, 29, 9, 0, tzinfo=berlin)
    assert after_change - next_local(before - timedelta(days=1), berlin, time(9, 0)) == timedelta(hours=23)
