"""What changed between two playbook versions, and the revision record appended to a playbook's text."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskcontrol.incidents.playbook_diff import changes
from riskcontrol.incidents.playbook_rules import Playbook, Revision
from riskcontrol.incidents.playbooks import check_text, outline, revisions_last_problem, with_revision
from riskcontrol.incidents.sop import load_crisis_sop
from riskcontrol.settings import PROJECT_ROOT

TEXT = (PROJECT_ROOT / "playbooks" / "missing_student.yaml").read_text(encoding="utf-8")
# The same playbook as a first version with no revision record, to append records to.
FIRST = re.sub(r"^version: \d+$", "version: 1", TEXT.split("\nrevisions:\n")[0], flags=re.M).rstrip("\n") + "\n"
SOP = load_crisis_sop(PROJECT_ROOT / "sop")


def data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEXT)
    return loaded


def lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c.line() for c in changes(Playbook.model_validate(old), Playbook.model_validate(new))]


def test_only_content_changes_count_and_items_are_named_by_what_identifies_them() -> None:
    old, new = data(), data()
    new["version"] = old["version"] + 1
    assert lines(old, new) == []
    tasks = next(step for step in new["steps"] if step["state"] == "verification")["tasks"]
    tasks.reverse()  # order within a step is no change
    assert lines(old, new) == []
    verify = next(t for t in tasks if t["code"] == "verify_facts")
    verify["due"]["II"] = "10m"
    del verify["due"]["IV"]
    tasks.append(
        {"code": "ask_roommates", "label": {"zh": "询问室友", "en": "Ask roommates"}, "owner": "operations", "due": {"I": "20m"}}
    )
    new["roles"] = [r for r in new["roles"] if r["role"] != "safety"]
    new["templates"]["family_contact"]["en"] = "Dear parent, " + new["templates"]["family_contact"]["en"]
    assert lines(old, new) == [
        "steps.verification.tasks.verify_facts.due.II: 30m → 10m",
        "+ steps.verification.tasks.ask_roommates",
        "templates.family_contact.en: "
        + _short(old["templates"]["family_contact"]["en"])
        + " → "
        + _short(new["templates"]["family_contact"]["en"]),
        "- roles.safety",
        "- steps.verification.tasks.verify_facts.due.IV",
    ]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:79] + "…"


def test_the_revision_record_is_appended_after_everything_else_and_reads_back() -> None:
    v2 = FIRST.replace("\nversion: 1\n", "\nversion: 2\n")
    first = Revision(version=2, adopted=date(2026, 12, 1), why="核实时限缩短", changes=("a: 1 → 2",), source="incident 1")
    text = with_revision(v2, first)
    assert text.startswith(v2)
    playbook, errors = check_text("missing_student", text, SOP)
    assert errors == []
    assert playbook is not None
    assert playbook.revisions == (first,)
    second = Revision(version=3, adopted=date(2027, 1, 5), why="再次修订", changes=("b",))
    text = with_revision(text.replace("\nversion: 2\n", "\nversion: 3\n"), second)
    playbook, errors = check_text("missing_student", text, SOP)
    assert errors == []
    assert playbook is not None
    assert playbook.revisions == (first, second)
    shown = outline(playbook, SOP)
    assert shown[shown.index("修订记录") + 1 :] == [
        "  v2 2026-12-01: 核实时限缩短 (incident 1)",
        "      a: 1 → 2",
        "  v3 2027-01-05: 再次修订",
        "      b",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("type: x\nrevisions:\n  - {version: 2}\nversion: 2\n", "must be the last key"),
        ("type: x\nrevisions: []\n", "as a list"),
        ("- a\n- b\n", "not a mapping"),
    ],
)
def test_a_record_cannot_be_appended_where_it_would_not_read_back(text: str, problem: str) -> None:
    assert problem in (revisions_last_problem(text) or "")
    with pytest.raises(ValueError, match=problem.split()[0]):
        with_revision(text, Revision(version=2, adopted=date(2026, 12, 1), why="x", changes=("y",)))


def test_revision_versions_must_rise_and_stay_within_the_playbook_version(tmp_path: Path) -> None:
    text = FIRST + "\nrevisions:\n  - {version: 2, adopted: 2026-12-01, why: x, changes: [y]}\n"
    playbook, errors = check_text("missing_student", text, SOP)
    assert playbook is None
    assert [(e.field, e.line) for e in errors] == [("revisions.0.version", text.count("\n"))]
