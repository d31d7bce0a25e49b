"""What changed between two playbook versions, and the revision record appended to a playbook's text."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from riskcontrol.cli import app
from riskcontrol.core import i18n
from riskcontrol.core.i18n import word
from riskcontrol.core.shapes import Label
from riskcontrol.incidents.playbook_diff import Change, Kind, Term, changes, flatten, stored
from riskcontrol.incidents.playbook_rules import Playbook, Revision
from riskcontrol.incidents.playbooks import check_text, diff_names, load_playbooks, outline, revisions_last_problem, with_revision
from riskcontrol.incidents.sop import load_crisis_sop
from riskcontrol.settings import PROJECT_ROOT
from tests.texts import faults

TEXT = (PROJECT_ROOT / "playbooks" / "missing_student.yaml").read_text(encoding="utf-8")
# The same playbook as a first version with no revision record, to append records to.
FIRST = re.sub(r"^version: \d+$", "version: 1", TEXT.split("\nrevisions:\n")[0], flags=re.M).rstrip("\n") + "\n"
SOP = load_crisis_sop(PROJECT_ROOT / "sop")
NAMES = diff_names(PROJECT_ROOT / "sop")
VERIFY = "信息核实 › 核实最后联系时间、去向线索和风险因素"
VERIFY_EN = "Verification › Verify last contact, leads and risk factors"
# An ASCII identifier with an underscore or a dot: a code or a path of codes left in a line.
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_.][A-Za-z0-9]+)+")


def data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEXT)
    return loaded


def found(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    return changes(Playbook.model_validate(old), Playbook.model_validate(new), NAMES)


def lines(old: dict[str, Any], new: dict[str, Any], lang: str = "zh-CN") -> list[str]:
    return [i18n.word(lang, c.phrase()) for c in found(old, new)]


def step(playbook: dict[str, Any], state: str) -> dict[str, Any]:
    return next(s for s in playbook["steps"] if s["state"] == state)


def task(playbook: dict[str, Any], state: str, code: str) -> dict[str, Any]:
    return next(t for t in step(playbook, state)["tasks"] if t["code"] == code)


def test_only_content_changes_count_and_items_are_named_by_what_identifies_them() -> None:
    old, new = data(), data()
    new["version"] = old["version"] + 1
    assert lines(old, new) == []
    tasks = step(new, "verification")["tasks"]
    tasks.reverse()  # order within a step is no change
    assert lines(old, new) == []
    verify = task(new, "verification", "verify_facts")
    verify["due"]["II"] = "10m"
    del verify["due"]["IV"]
    tasks.append(
        {"code": "ask_roommates", "label": {"zh": "询问室友", "en": "Ask roommates"}, "owner": "operations", "due": {"I": "20m"}}
    )
    new["roles"] = [r for r in new["roles"] if r["role"] != "safety"]
    new["templates"]["family_contact"]["en"] = "Dear parent, " + new["templates"]["family_contact"]["en"]
    assert lines(old, new, "en") == [
        f"{VERIFY_EN} › Deadline (level Ⅱ): 30 min → 10 min",
        "Added Verification › Ask roommates",
        # A long text is cut to what changed and a little around it, never inside a placeholder, which is worded.
        "Message templates › Family contact (English): Dear parent of [student's name]… → "
        "Dear parent, Dear parent of [student's name]…",
        "Removed Command roles › Safety officer",
        f"Removed {VERIFY_EN} › Deadline (level Ⅳ) (was 4 hr)",
    ]
    zh = lines(old, new)
    assert zh[:2] == [f"{VERIFY} › 时限（Ⅱ级）：30分钟 → 10分钟", "新增 信息核实 › 询问室友"]
    assert zh[2] == "消息模板 › 家长联系（英文）：Dear parent of 〔学生姓名〕… → Dear parent, Dear parent of 〔学生姓名〕…"
    assert zh[3:] == ["删除 指挥角色 › 安全员", f"删除 {VERIFY} › 时限（Ⅳ级）（原为 4小时）"]


def test_a_long_text_shows_what_changed_with_a_little_around_it() -> None:
    old, new = data(), data()
    summary = old["summary"]["en"]
    new["summary"]["en"] = summary.replace("by phone, WeChat or classmates", "by phone, WeChat, QQ or classmates")
    new["templates"]["public_statement"]["zh"] = old["templates"]["public_statement"]["zh"].replace("已报警", "已第一时间报警")
    assert len(summary) > 60
    assert lines(old, new) == [
        "概述（英文）：…hone, WeChat or classmat… → …hone, WeChat, QQ or classmat…",
        # The cut would fall inside {summary}: the placeholder is shown whole.
        "消息模板 › 对外通报（中文）：…〔事件概况〕学校已报警并会同公安机关全力查… → "
        "…〔事件概况〕学校已第一时间报警并会同公安机关全力查…",
    ]
    short = data()
    short["label"]["en"] = "Student missing"
    assert lines(old, short, "en") == ["Name (English): Missing student → Student missing"]


def test_a_change_keeps_its_structure_and_reads_back_from_its_json() -> None:
    old, new = data(), data()
    task(new, "verification", "verify_facts")["due"]["I"] = "10m"
    (change,) = found(old, new)
    assert [(t.kind, t.code) for t in change.path] == [
        (Kind.FIELD, "steps"),
        (Kind.NAMED, "verification"),
        (Kind.FIELD, "tasks"),
        (Kind.NAMED, "verify_facts"),
        (Kind.FIELD, "due"),
        (Kind.LEVEL, "I"),
    ]
    assert change.path[1].label == Label(zh="信息核实", en="Verification")
    assert (change.what, change.before, change.after) == (
        "changed",
        Term(kind=Kind.DURATION, code="30m"),
        Term(kind=Kind.DURATION, code="10m"),
    )
    kept = stored([change.model_dump(mode="json"), "steps: reported gets the dispatch task"])
    assert kept == [change, "steps: reported gets the dispatch task"]
    assert i18n.word("zh-CN", change.phrase()) == f"{VERIFY} › 时限（Ⅰ级）：30分钟 → 10分钟"
    assert i18n.word("en", change.phrase()) == f"{VERIFY_EN} › Deadline (level Ⅰ): 30 min → 10 min"


def test_every_kind_of_field_is_worded_from_the_catalogue_and_the_playbooks_own_labels() -> None:
    old, new = data(), data()
    new["category"] = "accident"
    new["prevention"][0] |= {"every": "monthly", "allow": "2d", "owner_role": "counselor", "unit_kind": "class"}
    new["prevention"][0]["evidence"] = None
    night, by_day = new["warning"][0], new["warning"][1]
    night["during"] = {"from": "23:00", "to": "06:00"}
    night["with_category"] = [*night["with_category"], "stressors"]
    by_day |= {"level": "IV"}
    new["warning"].append({"source": "opinion", "item": "II", "level": "II"})
    search = task(new, "responding", "police_search")
    search |= {"owner": "liaison", "stream": 1, "needs_evidence": True}
    search["checklist"][1]["zh"] = "每小时向指挥者通报进展"
    new["recovery"][0]["within"] = "14d"
    assert lines(old, new) == [
        "类别：社会安全事件 → 事故灾难",
        "预防措施 › 宿舍晚间查寝并记录未归人员 › 周期：每周 → 每月",
        "预防措施 › 宿舍晚间查寝并记录未归人员 › 每轮完成时限：1天 → 2天",
        "预防措施 › 宿舍晚间查寝并记录未归人员 › 负责人：寝室长 → 辅导员",
        "预防措施 › 宿舍晚间查寝并记录未归人员 › 落实到：寝室 → 班级",
        "预防措施 › 宿舍晚间查寝并记录未归人员 › 佐证材料（中文）：每周查寝记录表 → 无",
        "预防措施 › 宿舍晚间查寝并记录未归人员 › 佐证材料（英文）：The week's dorm check sheet → 无",
        "预警触发 › 观察清单“失联” › 时段：22:00–07:00 → 23:00–06:00",
        "新增 预警触发 › 观察清单“失联” › 伴随勾选类别 › 重大压力事件",
        "预警触发 › 观察清单“失联”（第2条） › 起始等级：Ⅲ级 → Ⅳ级",
        "新增 预警触发 › 网络舆情“Ⅱ级(重大舆情)”",
        "部门联动与家校沟通 › 配合公安机关开展搜寻，持续跟进线索 › 负责角色：安全员 → 联络员（家长、公安）",
        "部门联动与家校沟通 › 配合公安机关开展搜寻，持续跟进线索 › 工作线：部门联动 → 家校沟通",
        "部门联动与家校沟通 › 配合公安机关开展搜寻，持续跟进线索 › 核对清单（第2项，中文）："
        "每2小时向指挥者通报进展 → 每小时向指挥者通报进展",
        "部门联动与家校沟通 › 配合公安机关开展搜寻，持续跟进线索 › 需上传佐证：否 → 是",
        "善后移交 › 辅导员每周谈心跟进一个月 › 时限：30天 → 14天",
    ]


def test_worded_changes_show_no_code_in_either_language() -> None:
    """Every leaf of every shipped playbook, as a change of its value, reads in words: no identifier with `_` or `.` in Chinese,
    and no code, catalogue key or unfilled placeholder in either language."""
    library = load_playbooks(PROJECT_ROOT / "playbooks", SOP)
    kinds: set[Kind] = set()
    zh: list[str] = []
    en: list[str] = []
    for playbook in library.playbooks.values():
        for leaf in flatten(playbook, NAMES):
            kinds |= {leaf.value.kind, *(t.kind for t in leaf.path)}
            change = Change(what="changed", path=leaf.path, before=leaf.value, after=leaf.value)  # its path and its value
            zh.append(i18n.word("zh-CN", change.phrase()))
            en.append(i18n.word("en", change.phrase()))
    assert len(zh) > 1000
    assert kinds >= set(Kind) - {Kind.NOTHING}
    assert [line for line in zh if IDENTIFIER.search(line)] == []
    # A label's English half is data a Chinese reader is shown as written, so its status words are no fault.
    assert faults("\n".join(zh), "en") == []
    assert faults("\n".join(en), "en") == []


def test_the_command_line_words_what_an_edited_file_changes(tmp_path: Path) -> None:
    edited = tmp_path / "missing_student.yaml"
    edited.write_text(TEXT.replace("due: {I: 30m, II: 30m, III: 1h, IV: 4h}", "due: {I: 10m, II: 30m, III: 1h, IV: 4h}"), "utf-8")
    runner = CliRunner()
    zh = runner.invoke(app, ["playbooks", "diff", "missing_student", str(edited)])
    assert (zh.exit_code, zh.output) == (0, f"{VERIFY} › 时限（Ⅰ级）：30分钟 → 10分钟\n")
    en = runner.invoke(app, ["playbooks", "diff", "missing_student", str(edited), "--lang", "en"])
    assert (en.exit_code, en.output) == (0, f"{VERIFY_EN} › Deadline (level Ⅰ): 30 min → 10 min\n")
    edited.write_text(TEXT.replace("due: {I: 30m,", "due: {I: soon,"), "utf-8")
    broken = runner.invoke(app, ["playbooks", "diff", "missing_student", str(edited)])
    assert broken.exit_code == 1
    assert "is not a duration" in broken.output


def test_the_revision_record_is_appended_after_everything_else_and_reads_back() -> None:
    v2 = FIRST.replace("\nversion: 1\n", "\nversion: 2\n")
    first = Revision(version=2, adopted=date(2026, 12, 1), why="核实时限缩短", changes=("a: 1 → 2",), source="incident 1")
    text = with_revision(v2, first)
    assert text.startswith(v2)
    playbook, errors = check_text("missing_student", text, SOP)
    assert errors == []
    assert playbook is not None
    assert playbook.revisions == (first,)
    # What the system records on adopting: each change in both languages.
    cut = Label(zh=f"{VERIFY} › 时限（Ⅰ级）：30分钟 → 10分钟", en=f"{VERIFY_EN} › Deadline (level Ⅰ): 30 min → 10 min")
    second = Revision(version=3, adopted=date(2027, 1, 5), why="再次修订", changes=(cut,))
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
        f"      {cut.zh}",
    ]
    shown = outline(playbook, SOP, lang="en")
    assert shown[-1] == f"      {cut.en}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("type: x\nrevisions:\n  - {version: 2}\nversion: 2\n", "must be the last key"),
        ("type: x\nrevisions: []\n", "as a list"),
        ("- a\n- b\n", "not a mapping"),
    ],
)
def test_a_record_cannot_be_appended_where_it_would_not_read_back(text: str, problem: str) -> None:
    found = revisions_last_problem(text)
    assert found is not None
    assert problem in word("en", found)
    with pytest.raises(ValueError, match=problem.split()[0]):
        with_revision(text, Revision(version=2, adopted=date(2026, 12, 1), why="x", changes=("y",)))


def test_revision_versions_must_rise_and_stay_within_the_playbook_version(tmp_path: Path) -> None:
    text = FIRST + "\nrevisions:\n  - {version: 2, adopted: 2026-12-01, why: x, changes: [y]}\n"
    playbook, errors = check_text("missing_student", text, SOP)
    assert playbook is None
    assert [(e.field, e.line) for e in errors] == [("revisions.0.version", text.count("\n"))]
