"""Grading of opinion (舆情) items, the first-report due time and the weekly risk, as an opinion officer would say them."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcontrol.core.datafiles import DataFileError
from riskcontrol.observations.opinion_rules import (
    InvalidFact,
    OpinionFacts,
    OpinionGrade,
    WeeklyItem,
    first_report_due,
    grade,
    rank,
    weekly_risk,
)
from riskcontrol.observations.opinion_service import POLICY_FILE, load_policy
from riskcontrol.settings import PROJECT_ROOT

POLICY = load_policy(PROJECT_ROOT / "sop")
TOPICS = [topic.code for topic in POLICY.topics]
PLATFORMS = [platform.code for platform in POLICY.platforms]
SHANGHAI = timezone(timedelta(hours=8))


def item(
    *platforms: str,
    reposts: int = 0,
    views: int = 0,
    media: str | None = None,
    attention: str | None = None,
    topics: tuple[str, ...] = (),
) -> OpinionGrade:
    facts = OpinionFacts(platforms or ("weibo",), reposts, views, media, attention, topics)
    return grade(POLICY, facts)


def test_the_shipped_policy_counts_two_and_one_as_major_and_gives_fifteen_minutes_from_discovery() -> None:
    assert [g.code for g in POLICY.grades] == ["minor", "III", "II", "I"]
    assert set(POLICY.major_grades) == {"II", "I"}
    assert POLICY.first_report.report_within == timedelta(minutes=15)
    assert POLICY.first_report.measured_from == "discovery"
    assert POLICY.first_report.report_to.roles == ("opinion_officer",)
    assert set(POLICY.first_report.on_breach.roles) == {"student_affairs", "leader"}
    assert set(POLICY.first_report.report_to.channels) == {"in_app", "sms"}


def test_a_single_post_that_has_not_spread_is_minor_and_not_major() -> None:
    result = item("campus_forum", reposts=12, views=300)
    assert (result.level, result.major, result.score) == ("minor", False, 0)
    assert result.reasons[0].code == "score"


def test_ordinary_local_media_makes_it_at_least_grade_three() -> None:
    result = item(media="local_ordinary")
    assert (result.level, result.major) == ("III", False)


def test_major_local_media_makes_it_grade_two_and_major_on_that_alone() -> None:
    result = item(media="local_major")
    assert (result.level, result.major) == ("II", True)
    assert result.reasons[0].code == "local_major"
    assert "地方主要新闻媒体" in result.reasons[0].zh
    assert "at least Grade Ⅱ" in result.reasons[0].en


@pytest.mark.parametrize(("media", "attention"), [("central", None), (None, "central")])
def test_central_media_or_central_authorities_make_it_grade_one_however_little_it_has_spread(
    media: str | None, attention: str | None
) -> None:
    result = item(media=media, attention=attention)
    assert (result.level, result.major) == ("I", True)


def test_a_death_is_grade_two_though_its_points_alone_reach_only_grade_three() -> None:
    result = item(topics=("death",))
    assert result.score == 20
    assert [(r.code, r.grade) for r in result.reasons] == [("death", "II"), ("score", "III")]
    assert result.level == "II"


def test_wide_spread_alone_reaches_grade_one_by_points() -> None:
    result = item("weibo", "douyin", "wechat", "zhihu", "bilibili", reposts=150_000, views=12_000_000)
    assert result.score == 15 + 45 + 45
    assert (result.level, result.reasons[0].code) == ("I", "score")
    assert "转发/评论量 150,000 +45" in result.reasons[0].zh


def test_moderate_spread_of_an_injury_reaches_grade_two() -> None:
    result = item("weibo", "douyin", reposts=1_200, views=150_000, topics=("injury",))
    assert result.score == 5 + 15 + 15 + 10
    assert result.level == "II"


def test_the_same_facts_in_another_order_read_the_same_reasons() -> None:
    one = item("weibo", "douyin", topics=("injury", "teacher_misconduct", "death"))
    other = item("douyin", "weibo", "weibo", topics=("death", "injury", "teacher_misconduct"))
    assert one == other


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        (OpinionFacts(("weibo", "myspace")), "platforms"),
        (OpinionFacts(()), "platforms"),
        (OpinionFacts(("weibo",), media="tabloid"), "media"),
        (OpinionFacts(("weibo",), attention="un"), "attention"),
        (OpinionFacts(("weibo",), topics=("death", "aliens")), "topics"),
        (OpinionFacts(("weibo",), reposts=-1), "reposts"),
        (OpinionFacts(("weibo",), views=-5), "views"),
    ],
)
def test_a_fact_the_policy_does_not_know_names_its_field(facts: OpinionFacts, field: str) -> None:
    with pytest.raises(InvalidFact) as caught:
        grade(POLICY, facts)
    assert caught.value.field == field


@given(
    platforms=st.lists(st.sampled_from(PLATFORMS), min_size=1, max_size=4),
    topics=st.lists(st.sampled_from(TOPICS), max_size=4),
    extra_topic=st.sampled_from(TOPICS),
    reposts=st.integers(0, 10**7),
    more=st.integers(0, 10**7),
)
def test_more_spread_or_another_topic_never_lowers_the_grade(
    platforms: list[str], topics: list[str], extra_topic: str, reposts: int, more: int
) -> None:
    before = item(*platforms, reposts=reposts, topics=tuple(topics))
    after = item(*platforms, reposts=reposts + more, topics=(*topics, extra_topic))
    assert rank(after.level) >= rank(before.level)
    assert after.score >= before.score
    assert after.major or not before.major


def test_the_first_report_is_due_fifteen_minutes_after_discovery_not_after_filing() -> None:
    discovered = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    assert first_report_due(discovered, POLICY) == datetime(2026, 12, 2, 1, 15, tzinfo=UTC)
    assert first_report_due(discovered, POLICY).tzinfo is UTC


def test_a_discovery_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        first_report_due(datetime(2026, 12, 2, 9, 0), POLICY)  # naive on purpose


def edited(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / POLICY_FILE
    shutil.copy(PROJECT_ROOT / "sop" / POLICY_FILE, path)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("major_grades: [II, I]", "major_grades: [I]", "major_grades"),
        ("major_grades: [II, I]", "major_grades: [III, I]", "major_grades"),
        ("report_within: 15m", "report_within: soon", "first_report.report_within"),
        ("report_within: 15m", "report_within: 0s", "first_report.report_within"),
        ("measured_from: discovery", "measured_from: filing", "first_report.measured_from"),
        ("roles: [student_affairs, leader]", "roles: [counselor]", "first_report.on_breach.roles.0"),
        ("{at_least: 1000, weight: 15,", "{at_least: 1000, weight: 2,", "spread.reposts.bands.2.weight"),
        ("threshold: 40", "threshold: 10", "grades.2.threshold"),
        ("{code: zhihu,", "{code: weibo,", "platforms.6.code"),
    ],
)
def test_a_policy_that_breaks_a_standing_rule_is_refused_naming_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    with pytest.raises(DataFileError) as caught:
        load_policy(edited(tmp_path, old, new))
    assert caught.value.field == field
    assert caught.value.line is not None


def test_a_school_may_add_grade_three_to_the_first_report_rule(tmp_path: Path) -> None:
    policy = load_policy(edited(tmp_path, "major_grades: [II, I]", "major_grades: [III, II, I]"))
    assert grade(policy, OpinionFacts(platforms=("weibo",), media="local_ordinary")).major


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 9, 0, tzinfo=UTC)


def test_the_weekly_review_puts_a_spreading_open_grade_two_above_a_dying_closed_grade_one() -> None:
    ranked = weekly_risk(
        POLICY,
        [
            WeeklyItem(1, "minor", None, active=False, discovered_at=at(1)),
            WeeklyItem(2, "I", "falling", active=False, discovered_at=at(2)),
            WeeklyItem(3, "II", "rising", active=True, discovered_at=at(3)),
            WeeklyItem(4, "III", "steady", active=True, discovered_at=at(4)),
        ],
    )
    assert [(r.item.id, r.score, r.band.code) for r in ranked] == [
        (3, 40 + 20 + 15, "high"),
        (2, 60, "elevated"),
        (4, 20 + 10 + 15, "elevated"),
        (1, 5 + 10, "low"),
    ]


def test_weekly_ties_go_to_the_graver_grade_then_the_longest_out_then_filing_order() -> None:
    ranked = weekly_risk(
        POLICY,
        [
            WeeklyItem(7, "II", "rising", active=False, discovered_at=at(5)),  # 40 + 20
            WeeklyItem(8, "I", "falling", active=False, discovered_at=at(6)),  # 60
            WeeklyItem(9, "II", "rising", active=False, discovered_at=at(4)),
            WeeklyItem(6, "II", "rising", active=False, discovered_at=at(4)),
        ],
    )
    assert [r.item.id for r in ranked] == [8, 6, 9, 7]


def test_a_trend_dropped_from_the_file_since_filing_counts_as_not_judged() -> None:
    (unknown,) = weekly_risk(POLICY, [WeeklyItem(1, "III", "viral", active=True, discovered_at=at(1))])
    assert unknown.score == 20 + POLICY.weekly_review.unknown_trend_points + 15
