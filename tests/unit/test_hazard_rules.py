"""The hazard ledger's pure rules: the shipped risk matrix, broken matrix files, the lifecycle and its deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from riskcontrol.core.datafiles import DataFileError, load_model
from riskcontrol.hazards.rules import (
    OWING,
    Action,
    RiskMatrix,
    State,
    acceptance_due,
    is_overdue,
    legal_actions,
    next_state,
    reminder_times,
)
from riskcontrol.settings import PROJECT_ROOT

MATRIX = PROJECT_ROOT / "sop" / "risk_matrix.yaml"
NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def matrix() -> RiskMatrix:
    return load_model(MATRIX, RiskMatrix)


@pytest.mark.parametrize(
    ("likelihood", "impact", "band"),
    [
        (1, 1, "blue"),
        (2, 2, "blue"),
        (1, 5, "yellow"),
        (3, 3, "yellow"),
        (2, 5, "orange"),
        (3, 4, "orange"),
        (3, 5, "red"),
        (5, 5, "red"),
    ],
)
def test_the_shipped_matrix_gives_the_four_colour_bands(matrix: RiskMatrix, likelihood: int, impact: int, band: str) -> None:
    assert matrix.band(likelihood, impact).code == band


def test_every_score_falls_in_exactly_one_band(matrix: RiskMatrix) -> None:
    for likelihood in range(1, 6):
        for impact in range(1, 6):
            score = likelihood * impact
            found = [b.code for b in matrix.bands if b.min <= score <= b.max]
            assert len(found) == 1
    assert matrix.band_of("red").supervised_when_overdue is True
    assert matrix.acceptance_within == timedelta(days=10)
    assert matrix.category("psych_environment") is not None
    with pytest.raises(ValueError, match="1 to 5"):
        matrix.band(0, 3)


def write_broken(tmp_path: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load(MATRIX.read_text(encoding="utf-8"))
    data.update(change)
    path = tmp_path / "risk_matrix.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_a_gap_between_bands_is_named(tmp_path: Path, matrix: RiskMatrix) -> None:
    bands = [b.model_dump(mode="json") for b in matrix.bands]
    bands[1]["min"] = 11  # orange now starts at 11: score 10 has no band
    for band in bands:
        band["remind_before"] = ["1d"]
    path = write_broken(tmp_path, {"bands": bands})
    with pytest.raises(DataFileError, match=r"no band covers the scores \[10\]") as caught:
        load_model(path, RiskMatrix)
    assert "risk_matrix.yaml" in str(caught.value)


def test_overlapping_bands_and_a_bad_rating_scale_are_named_with_their_line(tmp_path: Path, matrix: RiskMatrix) -> None:
    bands = [b.model_dump(mode="json") | {"remind_before": ["1d"]} for b in matrix.bands]
    bands[2]["max"] = 10  # yellow reaches into orange
    path = write_broken(tmp_path, {"bands": bands})
    with pytest.raises(DataFileError, match="score 10 is already in band") as caught:
        load_model(path, RiskMatrix)
    assert caught.value.line is not None
    path = write_broken(tmp_path, {"likelihood": {1: {"zh": "极少", "en": "Rare"}, 2: {"zh": "可能", "en": "Possible"}}})
    with pytest.raises(DataFileError, match="must rate exactly 1, 2, 3, 4 and 5"):
        load_model(path, RiskMatrix)


def test_closing_is_reached_only_through_acceptance() -> None:
    reaches_closed = [a for a in Action for s in State if next_state(s, a) is State.CLOSED]
    assert set(reaches_closed) == {Action.ACCEPT}
    assert [s for s in State if next_state(s, Action.ACCEPT)] == [State.AWAITING_ACCEPTANCE]
    assert legal_actions(State.CLOSED) == [Action.REOPEN]
    assert legal_actions(State.DISMISSED) == []
    assert next_state(State.AWAITING_ACCEPTANCE, Action.REJECT) is State.RECTIFYING


def test_reminders_only_in_the_future_and_acceptance_after_the_later_of_deadline_and_request(matrix: RiskMatrix) -> None:
    deadline = NOW + timedelta(days=5)
    assert reminder_times(matrix.band_of("red"), deadline, NOW) == [deadline - timedelta(days=3), deadline - timedelta(days=1)]
    assert reminder_times(matrix.band_of("blue"), NOW + timedelta(hours=12), NOW) == []
    within = timedelta(days=10)
    assert acceptance_due(deadline, NOW, within) == deadline + within
    late = deadline + timedelta(days=2)
    assert acceptance_due(deadline, late, within) == late + within


def test_overdue_only_while_the_owner_owes_the_work() -> None:
    assert is_overdue(State.RECTIFYING, NOW, NOW)
    assert not is_overdue(State.AWAITING_ACCEPTANCE, NOW - timedelta(days=1), NOW)
    assert not is_overdue(State.ASSIGNED, NOW + timedelta(seconds=1), NOW)
    assert State.ASSIGNED in OWING


def test_the_riskmap_check_command_validates_the_prevention_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from riskcontrol.cli import app

    result = CliRunner().invoke(app, ["riskmap", "check"])
    assert result.exit_code == 0, result.output
    assert "risk matrix OK: red 15–25, orange 10–14, yellow 5–9, blue 1–4" in result.output
    assert "inspection checklists OK: dorm" in result.output
    # A checklist item filed under a category the matrix does not know is named with its file and line.
    sop = tmp_path / "sop"
    sop.mkdir()
    (sop / "risk_matrix.yaml").write_text(MATRIX.read_text(encoding="utf-8"), encoding="utf-8")
    checklists = (PROJECT_ROOT / "sop" / "inspections.yaml").read_text(encoding="utf-8")
    (sop / "inspections.yaml").write_text(checklists.replace("category: electrical", "category: volcanic", 1), encoding="utf-8")
    monkeypatch.setenv("RISKCONTROL_SOP_DIR", str(sop))
    broken = CliRunner().invoke(app, ["riskmap", "check"])
    assert broken.exit_code == 1
    assert "inspections.yaml:" in broken.output
    assert "volcanic" in broken.output
