"""The calibration set: every written case through the shipped checklist, rubric, escalation policy
and playbooks, with the confusion matrix printed (`pytest -s`, or `riskcontrol triage calibrate`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from riskcontrol.cli import app
from riskcontrol.escalation.policy import load_calendar, load_policy
from riskcontrol.incidents.calibration import Outcome, Rules, load_calibration, matrix, run, verdict
from riskcontrol.incidents.playbooks import load_playbooks
from riskcontrol.incidents.sop import load_crisis_sop
from riskcontrol.observations.catalog import load_checklist, load_factors, load_rubric
from riskcontrol.settings import PROJECT_ROOT

SOP_DIR = PROJECT_ROOT / "sop"
PLAYBOOK_DIR = PROJECT_ROOT / "playbooks"


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    rules = Rules(
        checklist=load_checklist(SOP_DIR),
        rubric=load_rubric(SOP_DIR),
        policy=load_policy(SOP_DIR),
        playbooks=list(load_playbooks(PLAYBOOK_DIR, load_crisis_sop(SOP_DIR)).playbooks.values()),
        tz=ZoneInfo("Asia/Shanghai"),
        factors=load_factors(SOP_DIR),
        calendar=load_calendar(SOP_DIR),
    )
    found = run(rules, load_calibration(SOP_DIR))
    print("\n" + matrix(found))
    return {outcome.case.code: outcome for outcome in found}


def test_no_red_case_is_graded_below_red_and_at_least_95_percent_are_exact(outcomes: dict[str, Outcome]) -> None:
    found = verdict(list(outcomes.values()))
    assert found.cases >= 80
    assert found.red_below_red == ()
    assert found.share >= 0.95, matrix(list(outcomes.values()))


def test_every_checklist_item_is_in_some_case(outcomes: dict[str, Outcome]) -> None:
    ticked = {code for outcome in outcomes.values() for code in outcome.case.ticks}
    on_form = {item.code for item in load_checklist(SOP_DIR).items if item.on_form}
    assert on_form - ticked == set()
    # And every imported risk factor is known about the student in some case.
    known = {code for outcome in outcomes.values() for code in outcome.case.factors}
    assert {factor.code for factor in load_factors(SOP_DIR).factors} - known == set()


@pytest.mark.parametrize(
    ("what", "ticks", "level", "incident"),
    [
        ('says "我想自杀", no method named', ("suicidal_thoughts",), "orange", "psych_crisis Ⅲ auto"),
        ("fresh cuts", ("self_harm",), "orange", "psych_crisis Ⅲ auto"),
        ("cannot be reached, by day", ("missing_contact",), "orange", "missing_student Ⅲ confirm"),
        ("out all night", ("overnight_absence",), "yellow", "missing_student Ⅳ confirm"),
        ("farewell behaviour alone", ("farewell_behaviour",), "red", "psych_crisis Ⅱ auto"),
        ("fraud victim", ("loan_or_fraud_victim",), "yellow", "fraud Ⅲ confirm"),
    ],
)
def test_the_old_rubrics_wrong_answers_are_cases_and_now_right(
    outcomes: dict[str, Outcome], what: str, ticks: tuple[str, ...], level: str, incident: str
) -> None:
    alone = [o for o in outcomes.values() if o.case.ticks == ticks and o.case.on_register is None and not o.case.factors]
    assert alone, f"no case ticks only {ticks} ({what})"
    assert all(o.exact for o in alone), [o.misses for o in alone]
    assert {(o.level.value, o.incident) for o in alone} == {(level, incident)}


def test_the_command_prints_the_matrix_and_exits_1_when_a_red_case_is_graded_below_red(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["triage", "calibrate", "--sop-dir", str(SOP_DIR), "--playbook-dir", str(PLAYBOOK_DIR)])
    assert result.exit_code == 0, result.output
    assert "expected \\ graded" in result.output
    shutil.copytree(SOP_DIR, tmp_path / "sop")
    checklist = tmp_path / "sop" / "observation_checklist.yaml"
    text = checklist.read_text(encoding="utf-8")
    at = text.index("code: suicide_intent")
    checklist.write_text(text[:at] + text[at:].replace("min_level: red", "min_level: orange", 1), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["triage", "calibrate", "--sop-dir", str(tmp_path / "sop"), "--playbook-dir", str(PLAYBOOK_DIR)]
    )
    assert result.exit_code == 1
    assert "red cases graded below red: 0" not in result.output
    assert "level: expected red, got orange" in result.output
