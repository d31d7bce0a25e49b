"""The key-concern cadence: when talks fall due, when a missed one reaches the college, when entries are reviewed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from riskcontrol.core.datafiles import DataFileError, load_model
from riskcontrol.people import concern_rules as rules
from riskcontrol.people.concern_rules import KeyConcernRules

SOP = Path(__file__).resolve().parents[2] / "sop" / "key_concern.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
RULES = load_model(SOP, KeyConcernRules)


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "key_concern.yaml"
    path.write_text(text, encoding="utf-8")
    return path


LEVEL = "    label: {zh: 预警, en: Warning}\n    talk_every: 7d\n    escalate_after: 1d\n"


def test_the_shipped_file_follows_the_domain_defaults() -> None:
    assert rules.cadence_of(RULES, "yellow").talk_every == timedelta(days=7)
    assert rules.cadence_of(RULES, "orange").talk_every == timedelta(days=1)
    assert rules.cadence_of(RULES, "red").talk_every == timedelta(days=1)
    assert rules.cadence_of(RULES, "yellow").escalate_after == timedelta(days=1)
    assert RULES.review.every == timedelta(days=30)


def test_a_yellow_student_added_on_monday_at_ten_is_due_a_talk_by_next_monday_at_ten() -> None:
    due = rules.next_talk_due("yellow", MONDAY_10, RULES)
    assert due == datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
    assert due.tzinfo is UTC


def test_a_talk_on_friday_makes_the_next_one_due_the_friday_after() -> None:
    friday = MONDAY_10 + timedelta(days=4, hours=5)
    assert rules.next_talk_due("yellow", friday, RULES) == friday + timedelta(days=7)


def test_orange_means_daily_contact() -> None:
    assert rules.next_talk_due("orange", MONDAY_10, RULES) == MONDAY_10 + timedelta(days=1)


def test_a_due_time_already_past_is_moved_to_now_not_left_in_the_past() -> None:
    now = MONDAY_10 + timedelta(days=5)
    assert rules.next_talk_due("orange", MONDAY_10, RULES, not_before=now) == now
    assert rules.next_talk_due("yellow", MONDAY_10, RULES, not_before=now) == MONDAY_10 + timedelta(days=7)


def test_the_college_is_told_the_grace_after_the_due_time() -> None:
    due = rules.next_talk_due("yellow", MONDAY_10, RULES)
    assert rules.escalate_at("yellow", due, RULES) == due + timedelta(days=1)
    assert rules.escalate_at("orange", due, RULES) == due + timedelta(hours=4)


def test_overdue_from_the_due_time_on() -> None:
    due = MONDAY_10 + timedelta(days=7)
    assert not rules.is_overdue(due, due - timedelta(seconds=1))
    assert rules.is_overdue(due, due)
    assert not rules.is_overdue(None, due)


def test_review_falls_on_the_local_date_thirty_days_on() -> None:
    late_evening = datetime(2026, 11, 30, 23, 30, tzinfo=SHANGHAI)  # already Monday 15:30 UTC
    assert rules.default_review_on(late_evening, RULES, SHANGHAI) == date(2026, 12, 30)
    assert not rules.review_due(date(2026, 12, 30), date(2026, 12, 29))
    assert rules.review_due(date(2026, 12, 30), date(2026, 12, 30))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        rules.next_talk_due("yellow", datetime(2026, 11, 30, 10, 0), RULES)


def test_a_level_left_out_of_the_file_is_refused_naming_the_levels_kept(tmp_path: Path) -> None:
    path = written(tmp_path, f'version: "1"\nlevels:\n  yellow:\n{LEVEL}  orange:\n{LEVEL}  red:\n{LEVEL}review:\n  every: 30d\n')
    no_blue = load_model(path, KeyConcernRules)
    with pytest.raises(rules.UnknownLevel, match="yellow, orange, red; not 'blue'"):
        rules.cadence_of(no_blue, "blue")


def test_a_file_without_a_warning_level_names_the_field_and_line(tmp_path: Path) -> None:
    path = written(tmp_path, f'version: "1"\nlevels:\n  yellow:\n{LEVEL}  red:\n{LEVEL}review:\n  every: 30d\n')
    with pytest.raises(DataFileError, match="missing: orange") as caught:
        load_model(path, KeyConcernRules)
    assert (caught.value.field, caught.value.line) == ("levels", 3)


def test_a_zero_grace_is_refused(tmp_path: Path) -> None:
    zero = LEVEL.replace("escalate_after: 1d", "escalate_after: 0s")
    path = written(tmp_path, f'version: "1"\nlevels:\n  yellow:\n{zero}  orange:\n{LEVEL}  red:\n{LEVEL}review:\n  every: 30d\n')
    with pytest.raises(DataFileError, match="longer than 0s") as caught:
        load_model(path, KeyConcernRules)
    assert caught.value.field == "levels.yellow.escalate_after"
