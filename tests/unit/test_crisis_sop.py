"""The crisis SOP (sop/crisis.yaml): the shipped file, the machine built from it, broken files, the diagram."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskcontrol.cli import app
from riskcontrol.core.datafiles import DataFileError
from riskcontrol.incidents.moves import EFFECTS
from riskcontrol.incidents.rules import IllegalTrigger, Phase, mermaid
from riskcontrol.incidents.sop import SOP_FILE, load_crisis_sop
from riskcontrol.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "sop" / SOP_FILE
STANDARD = [
    "take_control",
    "verify",
    "report_to_leaders",
    "activate_plan",
    "coordinate",
    "publish",
    "stabilise",
    "start_review",
    "close",
]


def test_the_standard_sequence_walks_from_report_to_closed() -> None:
    sop = load_crisis_sop(SHIPPED.parent)
    state, visited = sop.initial, [sop.initial]
    for trigger in STANDARD:
        state = sop.machine.fire(state, trigger).dest
        visited.append(state)
    assert visited == [
        "reported",
        "on_site_control",
        "verification",
        "leaders_informed",
        "plan_activated",
        "responding",
        "public_information",
        "recovery",
        "review",
        "closed",
    ]
    assert [sop.state(s).label.zh for s in visited[1:7]] == [
        "现场控制",
        "信息核实",
        "上报领导",
        "启动预案",
        "部门联动与家校沟通",
        "信息发布",
    ]
    assert sop.state("closed").final
    assert sop.state("recovery").phase is Phase.RECOVERY


def test_coordination_and_family_contact_are_parallel_streams_of_one_state() -> None:
    sop = load_crisis_sop(SHIPPED.parent)
    assert [s.zh for s in sop.state("responding").streams] == ["部门联动", "家校沟通"]


def test_an_illegal_trigger_names_the_legal_ones() -> None:
    sop = load_crisis_sop(SHIPPED.parent)
    with pytest.raises(IllegalTrigger) as caught:
        sop.machine.fire("reported", "close")
    assert caught.value.legal == ("take_control", "false_alarm", "change_level", "merge")
    with pytest.raises(IllegalTrigger):
        sop.machine.fire("reported", "no_such_trigger")


def test_the_exits_real_life_needs() -> None:
    machine = load_crisis_sop(SHIPPED.parent).machine
    level = machine.fire("responding", "change_level")
    assert level.internal  # the level changes, the state stays
    assert level.dest == "responding"
    assert machine.fire("verification", "false_alarm").dest == "false_alarm"
    assert machine.fire("plan_activated", "merge").dest == "merged"
    assert machine.fire("closed", "reopen").dest == "verification"
    assert machine.fire("false_alarm", "reopen").dest == "verification"
    assert machine.fire("responding", "stabilise").dest == "recovery"  # nothing to publish
    assert machine.legal("merged") == ()


def test_only_the_moves_that_cannot_be_taken_back_ask_to_be_confirmed() -> None:
    sop = load_crisis_sop(SHIPPED.parent)
    # Control on site ends 接报 for good; closing, a false alarm and a merge cancel every open task.
    assert {t.trigger for t in sop.triggers if t.confirm} == {"take_control", "close", "false_alarm", "merge"}
    assert all(t.confirm for t in sop.triggers if t.dest is not None and sop.state(t.dest).final)


def test_every_declared_effect_belongs_to_a_trigger_of_the_sop() -> None:
    # A trigger renamed in the file would otherwise lose its effect without a word.
    sop = load_crisis_sop(SHIPPED.parent)
    assert set(EFFECTS) <= {t.trigger for t in sop.triggers}
    assert set(EFFECTS) == {"change_level", "merge"}


def test_the_machine_is_built_once_per_loaded_version() -> None:
    sop = load_crisis_sop(SHIPPED.parent)
    assert load_crisis_sop(SHIPPED.parent) is sop
    assert sop.machine is sop.machine


def broken(tmp_path: Path, old: str, new: str) -> DataFileError:
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    (tmp_path / SOP_FILE).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_crisis_sop(tmp_path)
    return caught.value


def line_of(path: Path, needle: str) -> int:
    """The line of the last occurrence of `needle` (the edited one, where the text repeats)."""
    return max(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "reason"),
    [
        (
            "    dest: verification\n  - trigger: report_to_leaders",
            "    dest: verifying\n  - trigger: report_to_leaders",
            "triggers.1.dest",
            "dest: verifying",
            "unknown state",
        ),
        (
            "    source: [on_site_control]",
            "    source: [on_site_contro]",
            "triggers.1.source.0",
            "on_site_contro]",
            "unknown state",
        ),
        ("initial: reported", "initial: received", "initial", "initial: received", "not one of the states"),
        ("  - code: merged", "  - code: closed", "states.11.code", "code: closed", "defined twice"),
        (
            "    phase: recovery\n  - code: review",
            "    phase: aftercare\n  - code: review",
            "states.7.phase",
            "phase: aftercare",
            "Input should be",
        ),
        (
            "    source: [recovery]\n    dest: review",
            "    source: [recovery]\n    dest: recovery",
            "states.8.code",
            "code: review",
            "cannot be reached",
        ),
        ("  - trigger: close\n", "  - trigger: Close now\n", "triggers.8.trigger", "trigger: Close now", "String should match"),
    ],
)
def test_a_broken_file_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, needle: str, reason: str
) -> None:
    error = broken(tmp_path, old, new)
    assert error.path == (tmp_path / SOP_FILE).resolve()
    assert error.field == field
    assert error.line == line_of(tmp_path / SOP_FILE, needle)
    assert reason in error.reason


def test_the_diagram_is_mermaid_with_every_state_and_trigger() -> None:
    sop = load_crisis_sop(SHIPPED.parent)
    text = mermaid(sop)
    assert text.startswith("stateDiagram-v2\n    [*] --> reported\n")
    assert "    on_site_control : 现场控制\n" in text
    assert "    responding --> responding : 调整事件等级\n" in text
    assert "    closed --> [*]\n" in text
    assert "Take control on site" in mermaid(sop, lang="en")


def test_the_cli_prints_the_diagram_or_the_error(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["sop", "diagram", "--lang", "en"])
    assert shown.exit_code == 0, shown.output
    assert "verification : Verification" in shown.output
    shutil.copy(SHIPPED, tmp_path / SOP_FILE)
    (tmp_path / SOP_FILE).write_text(
        SHIPPED.read_text(encoding="utf-8").replace("\nversion: 2\n", "\nversion: 0\n"), encoding="utf-8"
    )
    failed = runner.invoke(app, ["sop", "diagram", "--sop-dir", str(tmp_path)])
    assert failed.exit_code == 1
    assert f"{SOP_FILE}:" in failed.output
    assert "version" in failed.output
