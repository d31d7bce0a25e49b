"""Inspection rounds' rules: the shipped checklists, a broken copy refused at its line, due times, a walk's results."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from riskcontrol.core.datafiles import DataFileError, load_model
from riskcontrol.core.i18n import Phrase, translate
from riskcontrol.core.periods import Calendar, Every
from riskcontrol.core.shapes import Label
from riskcontrol.hazards.inspection_rules import At, InspectionPlan, Item, KindPlan, Status, due_at, results_problem, standing
from riskcontrol.hazards.inspections import PLAN_FILE, load_plan
from riskcontrol.hazards.places import PlaceKind
from riskcontrol.hazards.rules import RiskMatrix
from riskcontrol.people.rules import Role
from riskcontrol.settings import PROJECT_ROOT

SOP_DIR = PROJECT_ROOT / "sop"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = Calendar(SHANGHAI)
CJK = re.compile(r"[\u4e00-\u9fff]")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def categories() -> frozenset[str]:
    matrix = load_model(SOP_DIR / "risk_matrix.yaml", RiskMatrix)
    return frozenset(category.code for category in matrix.categories)


def shipped() -> InspectionPlan:
    return load_plan(SOP_DIR, categories())


def dorm() -> KindPlan:
    plan = shipped().kind("dorm")
    assert plan is not None
    return plan


# --- the shipped file --------------------------------------------------------------------------


def test_the_five_kinds_of_place_have_a_checklist_a_schedule_and_the_safety_office_walks_them() -> None:
    plan = shipped()
    assert set(plan.kinds) == {PlaceKind.DORM, PlaceKind.LAB, PlaceKind.CANTEEN, PlaceKind.GYM, PlaceKind.GATE}
    assert (dorm().every, dorm().allow, dorm().inspector.at) == (Every.MONTH, timedelta(days=14), At.BUILDING)
    for kind, kp in plan.kinds.items():
        assert kp.inspector.role is Role.SAFETY_OFFICER
        assert kp.inspector.at is (At.BUILDING if kind is PlaceKind.DORM else At.SCHOOL)
        assert len(kp.items) >= 5, kind


def test_the_checklists_hold_what_a_chinese_campus_inspects() -> None:
    labels = {kind.value: " ".join(item.zh for item in kp.items) for kind, kp in shipped().kinds.items()}
    for kind, words in {
        "dorm": ("违规电器", "私拉乱接电线", "安全出口", "灭火器", "电动车"),
        "lab": ("危化品台账", "气瓶", "通风橱"),
        "canteen": ("燃气报警", "食品留样"),
        "gym": ("器材破损",),
        "gate": ("门禁", "道闸", "监控"),
    }.items():
        for word in words:
            assert word in labels[kind], (kind, word)


def test_every_item_speaks_both_languages_and_files_under_a_category_of_the_risk_matrix() -> None:
    known = categories()
    for kp in shipped().kinds.values():
        labels: list[Label | Item] = [kp.label, *kp.items, *(item.hint for item in kp.items if item.hint is not None)]
        for label in labels:
            assert CJK.search(label.zh), label.zh
            assert not CJK.search(label.en), label.en
        for item in kp.items:
            assert item.category in known, item.code


# --- a broken copy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line_of", "field", "reason"),
    [
        (
            "  - code: private_wiring",
            "  - code: banned_appliances",
            "  - code: banned_appliances\n        zh: 私拉",
            r"kinds\.dorm\.items\.1\.code",
            "duplicate code",
        ),
        (
            "category: electrical",
            "category: wiring",
            "category: wiring",
            r"kinds\.dorm\.items\.0\.category",
            "unknown category 'wiring'",
        ),
        (
            "allow: 14d\n    inspector: {role: safety_officer, at: building}",
            "allow: 30d\n    inspector: {role: safety_officer, at: building}",
            "allow: 30d",
            r"kinds\.dorm\.allow",
            "at most 28d",
        ),
        ("every: week", "every: fortnight", "every: fortnight", r"kinds\.canteen\.every", "Input should be"),
        (
            "{role: safety_officer, at: building}",
            "{role: dorm_head, at: building}",
            "role: dorm_head",
            r"kinds\.dorm\.inspector\.role",
            "dorm_head is not held at a building",
        ),
        ("  gym:\n", "  swimming_pool:\n", "label: {zh: 体育场馆", r"kinds\.swimming_pool", "Input should be"),
        (
            "likelihood: 3\n        impact: 4",
            "likelihood: 6\n        impact: 4",
            "likelihood: 6",
            r"kinds\.dorm\.items\.0\.likelihood",
            "less than or equal to 5",
        ),
        ("allow: 14d", "allow: two weeks", "allow: two weeks", r"kinds\.dorm\.allow", "not a duration"),
    ],
)
def test_a_broken_copy_is_refused_naming_the_line_and_field(
    tmp_path: Path, old: str, new: str, line_of: str, field: str, reason: str
) -> None:
    path = tmp_path / PLAN_FILE
    text = (SOP_DIR / PLAN_FILE).read_text(encoding="utf-8")
    assert old in text
    broken = text.replace(old, new, 1)
    path.write_text(broken, encoding="utf-8")
    expected_line = broken[: broken.index(line_of)].count("\n") + 1
    with pytest.raises(DataFileError) as caught:
        load_plan(tmp_path, categories())
    assert caught.value.path == path
    assert re.fullmatch(field, caught.value.field), caught.value.field
    assert caught.value.line == expected_line
    assert reason in caught.value.reason


def test_an_empty_checklist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / PLAN_FILE
    path.write_text(
        "version: 1\nkinds:\n  gate:\n    label: {zh: 校门, en: Gates}\n    every: week\n    allow: 5d\n"
        "    inspector: {role: safety_officer, at: school}\n    items: []\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFileError) as caught:
        load_plan(tmp_path, categories())
    assert (caught.value.line, caught.value.field) == (8, "kinds.gate.items")


# --- due times ---------------------------------------------------------------------------------


def test_a_round_opened_on_the_morning_of_its_period_is_due_its_allowance_after_the_opening() -> None:
    december = CALENDAR.period(local("2026-12-01 06:30"), Every.MONTH)
    assert due_at(december, timedelta(days=14), local("2026-12-01 06:30")) == local("2026-12-15 00:00")


def test_a_round_opened_late_gets_its_full_allowance_but_never_past_the_end_of_its_period() -> None:
    november = CALENDAR.period(local("2026-11-10 06:30"), Every.MONTH)
    assert due_at(november, timedelta(days=14), local("2026-11-10 06:30")) == local("2026-11-24 06:30")
    assert due_at(november, timedelta(days=14), local("2026-11-28 22:00")) == local("2026-12-01 00:00")
    week = CALENDAR.period(local("2026-12-03 06:30"), Every.WEEK)
    assert due_at(week, timedelta(days=5), local("2026-11-30 06:30")) == local("2026-12-05 00:00")
    assert due_at(week, timedelta(days=5), local("2026-12-03 06:30")) == local("2026-12-07 00:00")


def test_an_open_round_past_due_stands_missed_before_the_sweep_records_it() -> None:
    due = local("2026-12-15 00:00")
    assert standing("open", due, due - timedelta(seconds=1)) is Status.OPEN
    assert standing("open", due, due) is Status.MISSED
    assert standing("done", due, due + timedelta(days=1)) is Status.DONE
    assert standing("missed", due, due + timedelta(days=1)) is Status.MISSED


# --- a walk's results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    code: str
    ok: bool
    note: str = ""


def all_ok(kp: KindPlan) -> list[Tick]:
    return [Tick(item.code, True) for item in kp.items]


def test_a_walk_with_every_item_ticked_and_each_failure_explained_is_whole() -> None:
    ticks = all_ok(dorm())
    ticks[2] = Tick(ticks[2].code, False, "3楼东侧楼道2辆电动车充电")
    assert results_problem(dorm(), ticks) is None


def worded(problem: tuple[str, Phrase] | None, lang: str = "en") -> tuple[str, str] | None:
    return None if problem is None else (problem[0], translate(lang, problem[1].key, **problem[1].params))


def test_a_failed_item_without_a_word_of_what_was_found_is_refused_at_its_note() -> None:
    ticks = all_ok(dorm())
    ticks[1] = Tick(ticks[1].code, False, "   ")
    item = dorm().items[1]
    assert worded(results_problem(dorm(), ticks)) == (
        "results.1.note",
        f"'{item.en}': say what was found wrong: a failed item becomes a hazard.",
    )
    assert worded(results_problem(dorm(), ticks), "zh-CN") == (
        "results.1.note",
        f"“{item.zh}”不合格，请写明发现的问题（不合格项会登记为隐患）。",
    )


def test_an_item_left_unticked_is_named() -> None:
    ticks = all_ok(dorm())
    del ticks[3]
    assert worded(results_problem(dorm(), ticks)) == (
        "results",
        f"Every item is ticked ok or failed; not ticked: {dorm().items[3].en}.",
    )


def test_an_item_ticked_twice_or_not_on_the_checklist_is_refused_at_its_code() -> None:
    twice = [*all_ok(dorm()), Tick("banned_appliances", False, "热得快")]
    banned = dorm().item("banned_appliances")
    assert banned is not None
    assert worded(results_problem(dorm(), twice)) == (f"results.{len(dorm().items)}.code", f"'{banned.en}' is ticked twice.")
    stranger = [Tick("gas_alarm", True), *all_ok(dorm())]
    assert worded(results_problem(dorm(), stranger)) == ("results.0.code", "'gas_alarm' is not an item of this checklist.")
