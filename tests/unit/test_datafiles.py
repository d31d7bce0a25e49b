"""Data files: a bad value is reported with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from riskcontrol.core.datafiles import DataFileError, load_model
from riskcontrol.core.durations import Duration


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: str
    ack_within: Duration


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: list[Step]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    policy = load_model(write(tmp_path, "steps:\n  - level: class\n    ack_within: 5m\n"), Policy)
    assert policy.steps[0].ack_within.total_seconds() == 300


def test_a_bad_duration_names_its_line_and_field(tmp_path: Path) -> None:
    text = "steps:\n  - level: class\n    ack_within: 5m\n  - level: college\n    ack_within: soon\n"
    with pytest.raises(DataFileError) as caught:
        load_model(write(tmp_path, text), Policy)
    assert (caught.value.line, caught.value.field) == (5, "steps.1.ack_within")
    assert str(caught.value).startswith(f"{tmp_path / 'policy.yaml'}:5: steps.1.ack_within:")


def test_a_missing_field_points_at_its_parent_and_broken_yaml_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(DataFileError) as caught:
        load_model(write(tmp_path, "steps:\n  - level: class\n"), Policy)
    assert (caught.value.line, caught.value.field) == (2, "steps.0.ack_within")
    with pytest.raises(DataFileError) as caught:
        load_model(write(tmp_path, "steps: [\n  - level\n"), Policy)
    assert caught.value.field == "yaml"
    with pytest.raises(DataFileError, match="cannot be read"):
        load_model(tmp_path / "absent.yaml", Policy)
