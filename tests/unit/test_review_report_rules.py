"""The review report's figures: verdicts against due times, reporting tasks, response times, masking, the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from riskcontrol.reviews import report_rules as rules

TEN_PM = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return TEN_PM + timedelta(minutes=minutes)


def test_a_task_done_by_its_due_time_is_on_time() -> None:
    assert rules.verdict(at(10), at(10), now=at(60)).text("zh") == "按时"
    assert rules.verdict(at(10), at(4), now=at(60)).code == rules.ON_TIME


def test_the_search_due_at_2210_and_done_at_2231_is_21_minutes_late() -> None:
    found = rules.verdict(at(10), at(31), now=at(60))
    assert (found.code, found.minutes) == (rules.LATE, 21)
    assert found.text("zh") == "超时 21 分钟"
    assert found.text("en") == "Late by 21 min"


def test_a_late_second_counts_as_a_late_minute() -> None:
    assert rules.verdict(at(10), at(10) + timedelta(seconds=1), now=at(60)).minutes == 1


def test_an_undone_task_is_not_done_once_past_due_and_not_yet_due_before() -> None:
    assert rules.verdict(at(10), None, now=at(11)).text("zh") == "未完成"
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


def test_durations_read_in_minutes_and_hours() -> None:
    assert rules.duration_text(15, "zh") == "15 分钟"
    assert rules.duration_text(65, "zh") == "1 小时 5 分钟"
    assert rules.duration_text(65, "en") == "1 h 5 min"
    assert rules.duration_text(60, "zh") == "1 小时"
    assert rules.duration_text(7 * 24 * 60, "en") == "7 d"
    assert rules.duration_text(0, "zh") == "0 分钟"
    assert rules.duration_text(None, "zh") == "—"


def test_the_chart_lays_due_and_done_on_one_axis_and_clips_a_due_time_past_its_end() -> None:
    tasks = [
        rules.ChartTask("查找", created_at=at(3), due_at=at(10), done_at=at(31)),
        rules.ChartTask("复盘会", created_at=at(40), due_at=at(30 * 24 * 60), done_at=None),
    ]
    chart = rules.chart(tasks, at(0), at(50), width=600, left=100)
    search, review = chart.rows
    assert search.done_x is not None
    assert search.start_x < search.due_x < search.done_x
    assert search.late
    assert not search.due_clipped
    assert review.due_clipped
    assert review.due_x == chart.right
    assert review.done_x is None
    assert search.y < review.y
    assert chart.ticks[0] == (100, "+0′")
    assert all(chart.left <= x <= chart.right for x, _ in chart.ticks)


def test_the_timeline_says_what_happened_in_words() -> None:
    def states(code: str) -> str:
        return {"on_site_control": "现场控制", "reported": "接报"}.get(code, code)

    labels = {"start_search": "组织多渠道联系并就近查找"}
    done = rules.describe("task_done", {"code": "start_search", "late": True}, "zh", state_label=states, task_label=labels)
    assert done == "完成任务：组织多渠道联系并就近查找（超时）"
    moved = rules.describe(
        "transition", {"source": "reported", "dest": "on_site_control"}, "zh", state_label=states, task_label=labels
    )
    assert moved == "接报 → 现场控制"
    role = rules.describe("role", {"role": "commander", "name": "丁曦"}, "zh", state_label=states, task_label=labels)
    assert role == "指定指挥者：丁曦"
    odd = rules.describe("merged_in", {"incident_id": 7}, "en", state_label=states, task_label=labels)
    assert odd == 'merged_in: {"incident_id": 7}'


def test_every_heading_is_in_both_languages() -> None:
    assert rules.HEADINGS["zh"].keys() == rules.HEADINGS["en"].keys()
    assert rules.HEADINGS["zh"]["sop"] == "三、SOP 执行情况"
