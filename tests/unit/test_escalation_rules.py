"""Escalation rules: who is told when, by the shipped policy, with times on the Shanghai clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from riskcontrol.core.datafiles import DataFileError, load_model
from riskcontrol.escalation.policy import load_policy
from riskcontrol.escalation.rules import (
    EscalationPolicy,
    NightRule,
    channels_at,
    check_red_reaches_school_within,
    from_snapshot,
    plan,
    plan_level,
    reach_after,
    snapshot,
)
from riskcontrol.grid.rules import UnitKind
from riskcontrol.settings import PROJECT_ROOT

SHANGHAI = ZoneInfo("Asia/Shanghai")
SOP_DIR = PROJECT_ROOT / "sop"
SHIPPED = SOP_DIR / "escalation.yaml"


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 on the Shanghai wall clock, as the aware UTC time the planner takes."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


FRIDAY, SATURDAY, MONDAY, TUESDAY = 27, 28, 30, 1  # 2026-11-27 is a Friday; the 1st is December's


@pytest.fixture(scope="module")
def policy() -> EscalationPolicy:
    return load_policy(SOP_DIR)


def shipped_data() -> dict[str, Any]:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_a_red_observation_at_22_00_tells_the_class_at_once_the_college_at_22_05_and_the_school_at_22_10(
    policy: EscalationPolicy,
) -> None:
    steps = plan(policy, "red", shanghai(FRIDAY, 22, 0), SHANGHAI).steps
    assert [(s.index, s.grid_level, s.notify_at) for s in steps] == [
        (0, UnitKind.CLASS, shanghai(FRIDAY, 22, 0)),
        (1, UnitKind.COLLEGE, shanghai(FRIDAY, 22, 5)),
        (2, UnitKind.SCHOOL, shanghai(FRIDAY, 22, 10)),
    ]
    assert steps[-1].ack_due_at == shanghai(FRIDAY, 22, 15)
    assert steps[0].roles == ("counselor", "class_monitor")
    assert steps[1].roles == ("college_officer",)
    assert steps[2].roles == ("student_affairs", "psych_center", "response_team")
    assert all(s.channels == ("in_app", "sms") for s in steps)
    assert all((s.repeat_every, s.repeat_channels) == (timedelta(minutes=2), ("sms",)) for s in steps)
    assert all(s.notify_at.tzinfo is UTC and s.ack_due_at.tzinfo is UTC for s in steps)


def test_at_23_30_the_class_step_of_an_orange_observation_adds_sms_by_the_night_rule(policy: EscalationPolicy) -> None:
    assert plan(policy, "orange", shanghai(FRIDAY, 23, 30), SHANGHAI).steps[0].channels == ("in_app", "sms")
    assert plan(policy, "orange", shanghai(FRIDAY, 14, 0), SHANGHAI).steps[0].channels == ("in_app",)


def test_an_orange_observation_at_22_30_reaches_the_college_at_23_30_by_sms_and_the_school_at_03_30(
    policy: EscalationPolicy,
) -> None:
    steps = plan(policy, "orange", shanghai(FRIDAY, 22, 30), SHANGHAI).steps
    assert [(s.notify_at, s.channels) for s in steps] == [
        (shanghai(FRIDAY, 22, 30), ("in_app",)),
        (shanghai(FRIDAY, 23, 30), ("in_app", "sms")),
        (shanghai(SATURDAY, 1, 30), ("in_app", "sms")),
    ]
    assert steps[-1].ack_due_at == shanghai(SATURDAY, 5, 30)


def test_a_reminder_of_an_orange_step_at_23_10_goes_by_sms_too(policy: EscalationPolicy) -> None:
    orange = policy.levels["orange"]
    step = plan_level(orange, shanghai(FRIDAY, 22, 50), SHANGHAI).steps[0]
    assert step.repeat_every == timedelta(minutes=20)
    assert channels_at(orange, step.repeat_channels, step.notify_at + step.repeat_every, SHANGHAI) == ("in_app", "sms")
    assert channels_at(orange, step.repeat_channels, shanghai(SATURDAY, 7, 0), SHANGHAI) == ("in_app",)


@pytest.mark.parametrize(
    ("local", "is_night"),
    [(time(22, 59), False), (time(23, 0), True), (time(3, 0), True), (time(6, 59), True), (time(7, 0), False)],
)
def test_the_night_runs_from_23_00_to_07_00_across_midnight(policy: EscalationPolicy, local: time, is_night: bool) -> None:
    night = policy.levels["orange"].night
    assert night is not None
    assert night.covers(local) is is_night


def test_a_night_window_inside_one_day_covers_only_itself() -> None:
    siesta = NightRule.model_validate(
        {"label": {"zh": "午休", "en": "Siesta"}, "from": "12:00", "to": "14:00", "add_channels": ["sms"]}
    )
    assert [siesta.covers(time(h)) for h in (11, 12, 13, 14)] == [False, True, True, False]


def test_a_yellow_observation_on_friday_18_00_is_due_with_the_counselor_monday_09_00(policy: EscalationPolicy) -> None:
    counselor, college = plan(policy, "yellow", shanghai(FRIDAY, 18, 0), SHANGHAI).steps
    assert (counselor.roles, counselor.ack_due_at) == (("counselor",), shanghai(MONDAY, 9, 0))
    assert counselor.ack_due_at == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert (college.roles, college.notify_at) == (("college_officer",), shanghai(MONDAY, 9, 0))
    assert college.ack_due_at == datetime(2026, 12, TUESDAY, 9, 0, tzinfo=SHANGHAI)
    assert counselor.channels == ("in_app",)  # no night rule: yellow waits for the working day


def test_a_yellow_observation_on_saturday_or_early_monday_is_due_on_the_following_working_morning(
    policy: EscalationPolicy,
) -> None:
    assert plan(policy, "yellow", shanghai(SATURDAY, 10, 0), SHANGHAI).steps[0].ack_due_at == shanghai(MONDAY, 9, 0)
    # Filed at 08:55 on Monday, the counsellor gets until Tuesday, not five minutes.
    monday = plan(policy, "yellow", shanghai(MONDAY, 8, 55), SHANGHAI).steps[0]
    assert monday.ack_due_at == datetime(2026, 12, TUESDAY, 9, 0, tzinfo=SHANGHAI)


def test_blue_goes_to_tomorrows_08_30_digest(policy: EscalationPolicy) -> None:
    blue = plan(policy, "blue", shanghai(FRIDAY, 14, 0), SHANGHAI)
    assert (blue.steps, blue.digest_at) == ((), shanghai(SATURDAY, 8, 30))
    assert plan(policy, "blue", shanghai(SATURDAY, 7, 0), SHANGHAI).digest_at == shanghai(SATURDAY, 8, 30)
    assert plan(policy, "red", shanghai(FRIDAY, 14, 0), SHANGHAI).digest_at is None


def test_the_shipped_policy_brings_red_to_the_school_within_15_minutes(policy: EscalationPolicy) -> None:
    assert check_red_reaches_school_within(policy, 15) is None
    assert reach_after(policy.levels["red"], UnitKind.SCHOOL) == timedelta(minutes=10)
    assert check_red_reaches_school_within(policy, 9) == "red reaches the school after 10m, not within 9m"
    assert reach_after(policy.levels["yellow"], UnitKind.SCHOOL) is None


def test_a_snapshot_round_trips_and_is_json_serialisable(policy: EscalationPolicy) -> None:
    for level in policy.levels.values():
        frozen = json.loads(json.dumps(snapshot(level), ensure_ascii=False))
        assert from_snapshot(frozen) == level
    red, orange = snapshot(policy.levels["red"]), snapshot(policy.levels["orange"])
    assert (red["chain"][0]["ack_within"], red["chain"][0]["repeat_every"]) == ("5m", "2m")
    assert (orange["night"]["from"], orange["night"]["to"]) == ("23:00", "07:00")


def test_a_later_edit_of_the_file_does_not_change_a_running_chain(policy: EscalationPolicy, tmp_path: Path) -> None:
    frozen = snapshot(policy.levels["red"])
    (tmp_path / "escalation.yaml").write_text(
        SHIPPED.read_text(encoding="utf-8").replace("ack_within: 5m", "ack_within: 10m"), encoding="utf-8"
    )
    edited = load_policy(tmp_path)
    assert plan(edited, "red", shanghai(FRIDAY, 22, 0), SHANGHAI).steps[1].notify_at == shanghai(FRIDAY, 22, 10)
    assert plan_level(from_snapshot(frozen), shanghai(FRIDAY, 22, 0), SHANGHAI).steps[1].notify_at == shanghai(FRIDAY, 22, 5)


def test_a_policy_whose_chain_climbs_down_is_refused_naming_the_field_and_line(tmp_path: Path) -> None:
    data = shipped_data()
    data["levels"]["red"]["chain"].reverse()  # school, college, class
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path = tmp_path / "escalation.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_model(path, EscalationPolicy)
    lines = text.splitlines()
    college_line = next(n for n, line in enumerate(lines, start=1) if n > lines.index("  red:") and "grid_level: college" in line)
    assert (caught.value.field, caught.value.line) == ("levels.red.chain.1.grid_level", college_line)
    assert "college cannot follow school" in caught.value.reason


def test_an_unquoted_night_time_is_refused_on_its_line_with_a_hint_to_quote_it(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    path = tmp_path / "escalation.yaml"
    path.write_text(text.replace('from: "23:00"', "from: 23:00"), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_model(path, EscalationPolicy)
    assert (caught.value.field, caught.value.line) == (
        "levels.orange.night.from",
        text.splitlines().index('      from: "23:00"') + 1,
    )
    assert 'quoted as "HH:MM"' in caught.value.reason


def _set(*path: str | int, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


RED_CLASS = ("levels", "red", "chain", 0)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        pytest.param(_set("levels", "blue", value=None), "levels", "missing: blue", id="a level without a policy"),
        pytest.param(_set("channels", "voice", value=None), "channels", "missing: voice", id="a channel without labels"),
        pytest.param(_set("levels", "blue", "digest", value=None), "levels.blue.chain", "a digest", id="a level with nothing"),
        pytest.param(
            _set(*RED_CLASS, "roles", value=["counselor", "counselor"]), "levels.red.chain.0.roles", "twice", id="twice"
        ),
        pytest.param(
            _set(*RED_CLASS, "roles", value=["class_teacher"]), "levels.red.chain.0.roles.0", "Input should be", id="role"
        ),
        pytest.param(
            _set("levels", "orange", "chain", 0, "roles", value=["college_officer"]),
            "levels.orange.chain.0.roles.0",
            "role college_officer is held at a college, not at a class",
            id="a role not held at the step's level",
        ),
        pytest.param(
            _set(*RED_CLASS, "grid_level", value="building"), "levels.red.chain.0.grid_level", "not building", id="building"
        ),
        pytest.param(
            _set(*RED_CLASS, "channels", value=["pigeon"]), "levels.red.chain.0.channels.0", "Input should be", id="channel"
        ),
        pytest.param(
            _set(*RED_CLASS, "ack_within", value="0s"), "levels.red.chain.0.ack_within", "longer than 0s", id="no window"
        ),
        pytest.param(
            _set(*RED_CLASS, "ack_by", value={"next_working_day_at": "09:00"}),
            "levels.red.chain.0.ack_within",
            "exactly one of ack_within",
            id="two deadlines",
        ),
        pytest.param(
            _set("levels", "yellow", "chain", 0, "repeat_channels", value=["sms"]),
            "levels.yellow.chain.0.repeat_channels",
            "only makes sense with repeat_every",
            id="repeat channels without repeats",
        ),
        pytest.param(
            _set("levels", "orange", "night", "to", value="23:00"), "levels.orange.night.to", "end at another", id="night"
        ),
        pytest.param(_set(*RED_CLASS, "ack_whithin", value="5m"), "levels.red.chain.0.ack_whithin", "Extra inputs", id="typo"),
    ],
)
def test_a_policy_that_breaks_a_rule_is_refused_naming_the_field(
    change: Callable[[dict[str, Any]], None], field: str, reason: str
) -> None:
    data = shipped_data()
    change(data)
    with pytest.raises(ValidationError) as caught:
        EscalationPolicy.model_validate(data)
    first = caught.value.errors()[0]
    assert ".".join(str(part) for part in first["loc"]) == field
    assert reason in first["msg"]


def test_an_unknown_level_or_a_naive_time_is_refused(policy: EscalationPolicy) -> None:
    with pytest.raises(ValueError, match="unknown level 'purple'; expected one of blue, yellow, orange, red"):
        plan(policy, "purple", shanghai(FRIDAY, 22, 0), SHANGHAI)
    with pytest.raises(ValueError, match="has no time zone"):
        plan(policy, "red", datetime(2026, 11, 27, 22, 0), SHANGHAI)
