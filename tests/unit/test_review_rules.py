"""Review meetings' pure rules: the shipped policy, which incidents are reviewed, due and reminder times, lateness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskcontrol.core.datafiles import DataFileError, load_model
from riskcontrol.reviews.rules import ReviewPolicy, days_late, needs_review
from riskcontrol.settings import PROJECT_ROOT

POLICY = PROJECT_ROOT / "sop" / "review_policy.yaml"
CLOSED = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> ReviewPolicy:
    return load_model(POLICY, ReviewPolicy)


def test_levels_one_to_three_are_reviewed_within_30_days_of_closing(policy: ReviewPolicy) -> None:
    assert [policy.due_at(level, CLOSED) for level in (1, 2, 3, 4)] == [CLOSED + timedelta(days=30)] * 3 + [None]
    assert needs_review("closed", 2, policy)
    assert not needs_review("closed", 4, policy)
    assert not needs_review("false_alarm", 1, policy)
    assert not needs_review("merged", 1, policy)


def test_reminders_still_ahead_and_lateness_in_whole_days(policy: ReviewPolicy) -> None:
    due = CLOSED + timedelta(days=30)
    assert policy.reminders(due, CLOSED) == [due - timedelta(days=7), due - timedelta(days=1)]
    assert policy.reminders(due, due - timedelta(days=3)) == [due - timedelta(days=1)]
    assert days_late(due, due) == 0
    assert days_late(due, due - timedelta(days=5)) == 0
    assert days_late(due, due + timedelta(minutes=1)) == 1
    assert days_late(due, due + timedelta(days=1, hours=17)) == 2


def test_a_broken_policy_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "review_policy.yaml"
    path.write_text(POLICY.read_text(encoding="utf-8").replace("  II: 30d", "  II: a month"), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_model(path, ReviewPolicy)
    assert caught.value.line is not None
    assert "due_within" in caught.value.field


def test_the_shipped_recovery_plan_by_involvement() -> None:
    from riskcontrol.reviews.rules import RecoveryPlan

    plan = load_model(PROJECT_ROOT / "sop" / "recovery_plan.yaml", RecoveryPlan)
    assert [i.code for i in plan.items_for("deceased")] == ["family_session"]
    assert [i.code for i in plan.items_for("witness")] == ["individual_session"]
    assert len(plan.items_for("missing")) == 6
    assert [(i.code, i.within) for i in plan.per_incident] == [("group_session", timedelta(days=7))]
