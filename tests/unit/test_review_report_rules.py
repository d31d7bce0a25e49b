"""The review report's figures: verdicts against due times, reporting tasks, response times, the chart's axis."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from riskcontrol.core import i18n
from riskcontrol.reviews import report_rules as rules

TEN_PM = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return TEN_PM + timedelta(minutes=minutes)


def test_a_task_done_by_its_due_time_is_on_time() -> None:
    assert rules.verdict(at(10), at(10), now=at(60)).text("zh-CN") == "按时"
    assert rules.verdict(at(10), at(4), now=at(60)).code == rules.ON_TIME


def test_the_search_due_at_2210_and_done_at_2231_is_21_minutes_late() -> None:
    found = rules.verdict(at(10), at(31), now=at(60))
    assert (found.code, found.minutes) == (rules.LATE, 21)
    assert found.text("zh-CN") == "超时 21分钟"
    assert found.text("en") == "Late by 21 min"


def test_a_late_second_counts_as_a_late_minute() -> None:
    assert rules.verdict(at(10), at(10) + timedelta(seconds=1), now=at(60)).minutes == 1


def test_an_undone_task_is_not_done_once_past_due_and_not_yet_due_before() -> None:
    assert rules.verdict(at(10), None, now=at(11)).text("zh-CN") == "未完成"
    assert rules.verdict(at(10), None, now=at(9)).text("en") == "Not yet due"


def test_the_reporting_tasks_are_those_of_the_leaders_informed_state() -> None:
    assert rules.is_reporting_task("leaders_informed")
    assert not rules.is_reporting_task("on_site_control")


def test_response_figures_count_from_the_start_and_acknowledgement_from_the_warning() -> None:
    figures = rules.response_figures(
        at(0), warned_at=at(-3), acknowledged_at=at(1), on_site_at=at(3), stabilised_at=at(45), closed_at=at(49)
    )
    assert figures == rules.ResponseFigures(acknowledged=4, on_site=3, stabilised=45, total=49)


def test_response_figures_of_milestones_never_reached_are_none() -> None:
    figures = rules.response_figures(at(0), acknowledged_at=None, on_site_at=at(3), stabilised_at=None, closed_at=None)
    assert (figures.acknowledged, figures.stabilised, figures.total) == (None, None, None)


def test_durations_read_in_words_of_days_hours_and_minutes() -> None:
    assert i18n.duration(15, "zh-CN") == "15分钟"
    assert i18n.duration(65, "zh-CN") == "1小时5分钟"
    assert i18n.duration(65, "en") == "1 hr 5 min"
    assert i18n.duration(60, "zh-CN") == "1小时"
    assert i18n.duration(7 * 24 * 60, "en") == "7 days"
    assert i18n.duration(0, "zh-CN") == "0分钟"


def test_a_verdict_reads_in_words() -> None:
    assert rules.verdict(at(10), at(31), now=at(60)).text("zh-CN") == "超时 21分钟"
    assert rules.verdict(at(10), at(85), now=at(90)).text("en") == "Late by 1 hr 15 min"


def test_the_chart_lays_due_and_done_on_one_axis_and_clips_a_due_time_past_its_end() -> None:
    tasks = [
        rules.ChartTask("查找", created_at=at(3), due_at=at(10), done_at=at(31)),
        rules.ChartTask("复盘会", created_at=at(40), due_at=at(30 * 24 * 60), done_at=None),
    ]
    chart = rules.chart(tasks, at(0), at(50), width=600, left=100)
    search, review = chart.rows
    assert search.done_x is not None
    assert search.start_x < search.due_x < search.done_x == search.overrun_x
    assert search.late
    assert search.late_by == 21
    assert not search.due_clipped
    assert review.due_clipped
    assert review.due_x == chart.right
    assert review.done_x is None
    assert search.y < review.y
    assert chart.ticks[0] == (100, 0)
    assert all(chart.left <= x <= chart.right for x, _ in chart.ticks)


FOURTEEN_DAYS = 14 * 24 * 60


def _fourteen_day_chart() -> rules.Chart:
    """A missing student found within the hour, the review meeting held two weeks later: the record is 14 days long."""
    tasks = [
        rules.ChartTask("派人赶赴现场", created_at=at(0), due_at=at(3), done_at=at(2)),
        rules.ChartTask("组织查找", created_at=at(2), due_at=at(10), done_at=at(31)),
        rules.ChartTask("书面报告", created_at=at(11), due_at=at(30), done_at=at(37)),
        rules.ChartTask("召开复盘会", created_at=at(120), due_at=at(30 * 24 * 60), done_at=at(FOURTEEN_DAYS)),
    ]
    return rules.chart(tasks, at(0), at(FOURTEEN_DAYS))


def test_on_a_14_day_record_the_first_hour_takes_a_third_of_the_axis_and_its_minutes_stay_apart() -> None:
    chart = _fourteen_day_chart()
    width = chart.right - chart.left
    ticks = {minutes: x for x, minutes in chart.ticks}
    assert (ticks[60] - chart.left) / width >= 0.25  # before: 60 / 20160 of the width, one column
    assert chart.first_hour_x == ticks[60]
    assert {0, 10, 60, 1440, 10080} <= ticks.keys()
    positions = sorted(ticks.values())
    assert all(b - a >= rules.MIN_TICK_GAP for a, b in itertools.pairwise(positions))
    search = chart.rows[1]
    assert search.done_x is not None
    assert search.done_x - search.due_x >= 20  # 21 minutes late reads as late, not as a dot on its due mark
    assert [row.late for row in chart.rows] == [False, True, True, False]


def test_a_30_minute_incident_keeps_an_even_axis_with_a_tick_every_five_minutes() -> None:
    tasks = [rules.ChartTask("派人赶赴现场", created_at=at(0), due_at=at(3), done_at=at(2))]
    chart = rules.chart(tasks, at(0), at(30))
    width = chart.right - chart.left
    assert [minutes for _, minutes in chart.ticks] == [0, 5, 10, 15, 20, 25, 30]
    ten = next(x for x, minutes in chart.ticks if minutes == 10)
    assert abs((ten - chart.left) / width - 1 / 3) < 0.01
    assert chart.first_hour_x is None


def test_the_axis_bends_only_when_an_even_one_would_squeeze_the_first_hour() -> None:
    assert rules.axis(120).softness is None
    for span in (240, 1440, FOURTEEN_DAYS, 90 * 24 * 60):
        assert abs(rules.axis(span).share(60) - rules.FIRST_HOUR_SHARE) < 0.001


def test_a_long_label_is_cut_to_its_column() -> None:
    assert rules.fit("接待来校家长，安排食宿并指定专人陪同", 90) == "接待来校家长，安排…"
    assert rules.fit("查找", 90) == "查找"
