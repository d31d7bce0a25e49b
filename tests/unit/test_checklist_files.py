"""The shipped checklist and triage rubric load, and a broken copy is refused naming its line and field."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from riskcontrol.core.datafiles import DataFileError
from riskcontrol.observations.catalog import CHECKLIST_FILE, RUBRIC_FILE, load_checklist, load_rubric
from riskcontrol.observations.rules import LevelCode
from riskcontrol.settings import PROJECT_ROOT

SOP_DIR = PROJECT_ROOT / "sop"
CJK = re.compile(r"[\u4e00-\u9fff]")
# The items the warning-stage issue names; a school may add more but must not lose these.
REQUIRED_ZH = [
    *("长期独处", "情绪突变", "言语消极", "自伤言行", "自杀计划或准备", "告别行为", "夜不归宿", "失联", "冲突或暴力威胁"),
    *("严重学业困难", "家庭变故", "网贷或诈骗受害", "网络发布极端言论", "饮食睡眠明显异常", "物质滥用"),
    *("遭受欺凌或性侵", "近期重大丧失", "携带危险物品"),
]


def test_the_shipped_files_load_with_four_levels_in_order() -> None:
    checklist, rubric = load_checklist(SOP_DIR), load_rubric(SOP_DIR)
    assert [level.code for level in rubric.levels] == list(LevelCode)
    assert [level.zh for level in rubric.levels] == ["关注", "预警", "高危", "紧急"]
    assert rubric.human_review.required
    assert {item.zh for item in checklist.items} >= set(REQUIRED_ZH)
    assert any(item.zh.startswith("精神症状") for item in checklist.items)


def test_every_item_speaks_chinese_and_english() -> None:
    checklist = load_checklist(SOP_DIR)
    for item in checklist.items:
        for zh, en in ((item.zh, item.en), (item.hint.zh, item.hint.en)):
            assert CJK.search(zh), item.code
            assert not CJK.search(en), item.code
    for category in checklist.categories:
        assert CJK.search(category.zh)
        assert not CJK.search(category.en)


def test_loading_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    for name in (CHECKLIST_FILE, RUBRIC_FILE):
        shutil.copy(SOP_DIR / name, tmp_path / name)
    first = load_checklist(tmp_path)
    assert load_checklist(tmp_path) is first
    path = tmp_path / CHECKLIST_FILE
    path.write_text(path.read_text(encoding="utf-8").replace('version: "2026.1"', 'version: "2026.2"'), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_checklist(tmp_path).version == "2026.2"


@pytest.mark.parametrize(
    ("name", "old", "new", "field", "reason"),
    [
        (CHECKLIST_FILE, "- code: eating_sleeping_change", "- code: long_isolation", r"items\.\d+\.code", "duplicate code"),
        (CHECKLIST_FILE, "category: online", "category: internet", r"items\.\d+\.category", "unknown category"),
        (CHECKLIST_FILE, "min_level: orange", "min_level: purple", r"items\.\d+\.min_level", "Input should be"),
        (CHECKLIST_FILE, "weight: 3", "weight: -3", r"items\.\d+\.weight", "greater than or equal"),
        (RUBRIC_FILE, "farewell_behaviour]", "goodbye_note]", r"combinations\.0\.all\.1", "unknown checklist code"),
        (RUBRIC_FILE, "any_category: stressors", "any_category: money", r"combinations\.\d+\.any_category", "unknown category"),
        (RUBRIC_FILE, "all: [missing_contact]", "all: [self_harm]", r"combinations\.\d+\.all\.0", "is itself in category"),
        (RUBRIC_FILE, "threshold: 8", "threshold: 3", r"levels\.2\.threshold", "must be above yellow's 4"),
        (
            RUBRIC_FILE,
            "code: self_harm_with_farewell",
            "code: hopeless_talk_with_farewell",
            r"combinations\.1\.code",
            "duplicate",
        ),
        (RUBRIC_FILE, "required: true", "required: false", r"human_review\.required", "Input should be True"),
    ],
)
def test_a_broken_copy_is_refused_naming_the_line_and_field(
    tmp_path: Path, name: str, old: str, new: str, field: str, reason: str
) -> None:
    for shipped in (CHECKLIST_FILE, RUBRIC_FILE):
        shutil.copy(SOP_DIR / shipped, tmp_path / shipped)
    path = tmp_path / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    broken = text.replace(old, new, 1)
    path.write_text(broken, encoding="utf-8")
    expected_line = text[: text.index(old)].count("\n") + 1
    with pytest.raises(DataFileError) as caught:
        load_rubric(tmp_path)  # loads the checklist beside it first
    assert caught.value.path == path.resolve()
    assert re.fullmatch(field, caught.value.field)
    assert caught.value.line == expected_line
    assert reason in caught.value.reason


def test_a_combination_needs_two_conditions(tmp_path: Path) -> None:
    for shipped in (CHECKLIST_FILE, RUBRIC_FILE):
        shutil.copy(SOP_DIR / shipped, tmp_path / shipped)
    path = tmp_path / RUBRIC_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    any_category: mood_self_harm\n", "", 1), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_rubric(tmp_path)
    assert re.fullmatch(r"combinations\.\d+\.all", caught.value.field)
    assert "two codes" in caught.value.reason


def test_levels_out_of_order_are_refused(tmp_path: Path) -> None:
    for shipped in (CHECKLIST_FILE, RUBRIC_FILE):
        shutil.copy(SOP_DIR / shipped, tmp_path / shipped)
    path = tmp_path / RUBRIC_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("code: blue", "code: red", 1), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_rubric(tmp_path)
    assert caught.value.field == "levels"
    assert "blue, yellow, orange, red in that order" in caught.value.reason
