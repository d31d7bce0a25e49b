"""Triage of ticked checklist items, in the sentences a counsellor would use."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcontrol.observations.catalog import load_checklist, load_rubric
from riskcontrol.observations.rules import (
    LevelCode,
    TriageResult,
    UnknownChecklistCode,
    max_level,
    missing_notes,
    override_allowed,
    override_needs_reason,
    rank,
    triage,
)
from riskcontrol.settings import PROJECT_ROOT

# Module-level rather than fixtures: hypothesis runs a test many times per fixture instance.
CHECKLIST = load_checklist(PROJECT_ROOT / "sop")
RUBRIC = load_rubric(PROJECT_ROOT / "sop")
CODES = [item.code for item in CHECKLIST.items]


def tick(*codes: str, key_concern_level: LevelCode | None = None) -> TriageResult:
    return triage(CHECKLIST, RUBRIC, codes, key_concern_level=key_concern_level)


@pytest.mark.parametrize(
    "others",
    [(), ("long_isolation",), ("eating_sleeping_change", "severe_academic_difficulty"), tuple(CODES)],
)
def test_a_suicide_plan_is_red_whatever_else_is_ticked(others: tuple[str, ...]) -> None:
    result = tick("suicide_plan", *others)
    assert result.level is LevelCode.RED
    assert result.immediate_danger
    assert result.reasons[0].level is LevelCode.RED


def test_isolation_alone_is_blue() -> None:
    result = tick("long_isolation")
    assert (result.level, result.score, result.immediate_danger) == (LevelCode.BLUE, 2, False)


def test_farewell_behaviour_is_red_alone_and_hopeless_talk_with_it_names_the_combination() -> None:
    # Giving things away and saying goodbye is a warning sign of a near attempt (the psych-crisis
    # playbook grades it Ⅱ): red on its own, not only with other ticks.
    assert tick("negative_speech").level is LevelCode.YELLOW
    alone = tick("farewell_behaviour")
    assert (alone.level, alone.reasons[0].code, alone.immediate_danger) == (LevelCode.RED, "farewell_behaviour", False)
    together = tick("negative_speech", "farewell_behaviour")
    assert together.level is LevelCode.RED
    assert "hopeless_talk_with_farewell" in [reason.code for reason in together.reasons]


def test_the_suicide_items_follow_the_screener_steps() -> None:
    # Wish to be dead → yellow; "I want to kill myself" without method or intent → orange (same-day
    # assessment); intent, a plan or a recent attempt → red.
    assert tick("negative_speech").level is LevelCode.YELLOW
    assert tick("suicidal_thoughts").level is LevelCode.ORANGE
    for grave in ("suicide_intent", "suicide_plan", "recent_attempt", "attempt_in_progress"):
        assert tick(grave).level is LevelCode.RED, grave
    assert tick("suicide_history").level is LevelCode.YELLOW
    assert tick("suicide_history", "negative_speech").level is LevelCode.ORANGE


def test_self_harm_is_at_least_orange() -> None:
    result = tick("self_harm")
    assert result.level is LevelCode.ORANGE
    assert result.reasons[0].code == "self_harm"


def test_a_missing_student_is_orange_and_red_with_any_mood_sign_or_mental_health_history() -> None:
    assert tick("missing_contact").level is LevelCode.ORANGE
    for sign, rule in (
        ("sudden_mood_change", "missing_with_mood_signs"),
        ("psychotic_symptoms", "missing_with_mood_signs"),
        ("psychiatric_medication", "missing_with_mental_health_history"),
        ("back_from_leave", "missing_with_mental_health_history"),
    ):
        result = tick("missing_contact", sign)
        assert result.level is LevelCode.RED, sign
        assert rule in [reason.code for reason in result.reasons]


def test_the_other_item_needs_words_and_a_grading_within_hours() -> None:
    checklist = CHECKLIST
    assert tick("other").grade_within == timedelta(hours=4)
    assert tick("long_isolation").grade_within is None
    assert missing_notes(checklist, ["other"], None) == ["other"]
    assert missing_notes(checklist, ["other"], "  ") == ["other"]
    assert missing_notes(checklist, ["other"], "他把自己的东西都锁进了柜子") == []


def test_a_threat_with_a_knife_is_red() -> None:
    assert tick("conflict_or_violence_threat").level is LevelCode.YELLOW
    assert tick("conflict_or_violence_threat", "carrying_dangerous_items").level is LevelCode.RED


def test_small_signs_add_up_by_score() -> None:
    assert tick("long_isolation", "eating_sleeping_change").level is LevelCode.YELLOW
    piled_up = tick("sudden_mood_change", "long_isolation", "severe_academic_difficulty", "family_crisis")
    assert (piled_up.level, piled_up.score) == (LevelCode.ORANGE, 9)
    assert piled_up.reasons[0].code == "score"


def test_reasons_explain_the_level_in_chinese_and_english() -> None:
    result = tick("suicide_plan", "long_isolation")
    assert result.reasons[0].zh == "勾选了“自杀计划或准备”（立即危险）→ 紧急"
    assert result.reasons[0].en == 'Ticked "Suicide plan or preparation" (immediate danger) → Emergency'
    score = next(reason for reason in result.reasons if reason.code == "score")
    assert score.zh == "勾选 2 项，合计 12 分，达到“高危”（8 分起）"
    assert score.en == "2 items ticked, 12 points in all, reaching High risk (from 8 points)"


def test_the_decisive_reason_comes_first_and_every_reason_is_bilingual() -> None:
    result = tick("negative_speech", "farewell_behaviour", "long_isolation", "family_crisis")
    assert [reason.level for reason in result.reasons] == sorted((r.level for r in result.reasons), key=rank, reverse=True)
    assert result.reasons[0].level is result.level
    assert all(reason.zh and reason.en for reason in result.reasons)


def test_nothing_ticked_is_blue_and_only_a_note() -> None:
    result = tick()
    assert (result.level, result.score) == (LevelCode.BLUE, 0)
    assert [(reason.code, reason.en) for reason in result.reasons] == [("none", "No item ticked; recorded as a note only")]


def test_an_unknown_code_is_refused_by_name() -> None:
    with pytest.raises(UnknownChecklistCode) as caught:
        tick("long_isolation", "flying_pigs")
    assert caught.value.code == "flying_pigs"
    assert isinstance(caught.value, ValueError)
    assert "flying_pigs" in str(caught.value)


def test_ticking_an_item_twice_counts_it_once() -> None:
    assert tick("long_isolation", "long_isolation").score == tick("long_isolation").score


def test_a_key_concern_student_with_a_new_sign_stays_at_the_register_level() -> None:
    result = tick("long_isolation", key_concern_level=LevelCode.ORANGE)
    assert result.level is LevelCode.ORANGE
    assert result.reasons[0].code == "key_concern"
    assert "重点关注" in result.reasons[0].zh


def test_a_note_alone_about_a_key_concern_student_does_not_re_assess() -> None:
    assert tick(key_concern_level=LevelCode.RED).level is LevelCode.BLUE
    assert all(reason.code != "key_concern" for reason in tick("long_isolation", key_concern_level=LevelCode.BLUE).reasons)


@given(
    before=st.sets(st.sampled_from(CODES)),
    more=st.sets(st.sampled_from(CODES)),
    key_concern_level=st.none() | st.sampled_from(list(LevelCode)),
)
def test_adding_ticks_never_lowers_the_level(before: set[str], more: set[str], key_concern_level: LevelCode | None) -> None:
    fewer = tick(*before, key_concern_level=key_concern_level)
    added = tick(*(before | more), key_concern_level=key_concern_level)
    assert rank(added.level) >= rank(fewer.level)
    assert added.score >= fewer.score
    assert added.immediate_danger or not fewer.immediate_danger


def test_levels_order_by_seriousness_not_by_spelling() -> None:
    assert [rank(level) for level in LevelCode] == [0, 1, 2, 3]
    assert max_level(LevelCode.RED, LevelCode.BLUE, LevelCode.ORANGE) is LevelCode.RED
    assert max_level() is LevelCode.BLUE


def test_a_reviewer_may_change_any_level_but_must_say_why() -> None:
    assert override_allowed(LevelCode.RED, LevelCode.BLUE)
    assert override_needs_reason(LevelCode.RED, LevelCode.YELLOW)
    assert override_needs_reason(LevelCode.BLUE, LevelCode.ORANGE)
    assert not override_needs_reason(LevelCode.ORANGE, LevelCode.ORANGE)
