"""Playbooks (预案): the ten shipped plans on the shipped SOP, their deadlines and templates, broken files, the CLI."""

from __future__ import annotations

import os
import re
import shutil
import string
from datetime import time, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskcontrol.cli import app
from riskcontrol.core.datafiles import DataFileError
from riskcontrol.incidents.playbook_rules import Level, Opens, Playbook, WarningSource, checklist_facts, suggest
from riskcontrol.incidents.playbooks import TEMPLATE_FIELDS, PlaybookLibrary, check_playbooks, load_playbooks, outline
from riskcontrol.incidents.sop import SOP_FILE, load_crisis_sop
from riskcontrol.observations.catalog import CHECKLIST_FILE, load_checklist
from riskcontrol.settings import PROJECT_ROOT

PLAYBOOK_DIR = PROJECT_ROOT / "playbooks"
SOP_DIR = PROJECT_ROOT / "sop"
# The shipped missing_student.yaml's version line: edits below anchor on it.
MISSING_VERSION = int(re.search(r"^version: (\d+)$", (PLAYBOOK_DIR / "missing_student.yaml").read_text("utf-8"), re.M)[1])  # type: ignore[index]
VERSION_LINE = f"version: {MISSING_VERSION}\n"
TYPES = [
    "fire",
    "fraud",
    "lab_accident",
    "missing_student",
    "natural_disaster",
    "online_opinion",
    "psych_crisis",
    "public_health",
    "traffic",
    "violence",
]
# The SOP states where work happens; every playbook hangs tasks on each of them, for every level.
WORKING_STATES = [
    "on_site_control",
    "verification",
    "leaders_informed",
    "plan_activated",
    "responding",
    "public_information",
    "recovery",
    "review",
]
I, II, III, IV = Level  # noqa: E741 - the levels by their own names


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def hours(n: int) -> timedelta:
    return timedelta(hours=n)


def days(n: int) -> timedelta:
    return timedelta(days=n)


@pytest.fixture(scope="module")
def library() -> PlaybookLibrary:
    return load_playbooks(PLAYBOOK_DIR, load_crisis_sop(SOP_DIR))


def playbooks(library: PlaybookLibrary) -> list[Playbook]:
    return [library.playbooks[kind] for kind in library.types()]


def state_of(playbook: Playbook, task_code: str) -> str:
    return next(step.state for step in playbook.steps for task in step.tasks if task.code == task_code)


# The shipped playbooks


def test_the_ten_shipped_playbooks_fit_the_shipped_sop(library: PlaybookLibrary) -> None:
    assert check_playbooks(PLAYBOOK_DIR, SOP_DIR) == []
    assert library.types() == TYPES
    # Every change to a shipped playbook raised its version and says why in its revisions.
    assert all(library.playbooks[kind].version == 1 + len(library.playbooks[kind].revisions) for kind in TYPES)
    assert library.get("missing_student") is library.playbooks["missing_student"]
    assert library.get("earthquake") is None


def test_loading_again_gives_the_same_library_until_a_file_changes(tmp_path: Path) -> None:
    sop = load_crisis_sop(SOP_DIR)
    assert load_playbooks(PLAYBOOK_DIR, sop) is load_playbooks(PLAYBOOK_DIR, sop)
    shutil.copy(PLAYBOOK_DIR / "traffic.yaml", tmp_path / "traffic.yaml")
    first = load_playbooks(tmp_path, sop)
    path = tmp_path / "traffic.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("version: 2\n", "version: 3\n", 1), encoding="utf-8")
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a second later, whatever the file system's clock grain
    os.utime(path, ns=(stamp, stamp))
    second = load_playbooks(tmp_path, sop)
    assert (first.types(), first.playbooks["traffic"].version, second.playbooks["traffic"].version) == (["traffic"], 2, 3)


@pytest.mark.parametrize("kind", TYPES)
def test_every_working_state_has_a_task_at_every_level(library: PlaybookLibrary, kind: str) -> None:
    playbook = library.playbooks[kind]
    missing = [(state, level.name) for state in WORKING_STATES for level in Level if not playbook.tasks_for(state, level)]
    assert missing == []
    assert [g.level for g in sorted(playbook.grading, key=lambda g: g.level)] == [I, II, III, IV]


@pytest.mark.parametrize("kind", TYPES)
def test_on_report_someone_is_sent_at_once_and_says_who_went(library: PlaybookLibrary, kind: str) -> None:
    playbook = library.playbooks[kind]
    sent = {level: [t.code for t in playbook.tasks_for("reported", level)] for level in Level}
    assert sent == {level: ["dispatch"] for level in Level}
    dispatch = playbook.task("dispatch")
    assert dispatch is not None
    assert dispatch.needs_evidence
    # Ⅰ/Ⅱ: three minutes, as a campus 110 centre acts on a call (playbooks/README.md); Ⅲ/Ⅳ are our defaults.
    assert [dispatch.due[level] for level in Level] == [timedelta(minutes=m) for m in (3, 3, 10, 30)]


@pytest.mark.parametrize("kind", TYPES)
def test_coordination_and_family_contact_both_have_tasks(library: PlaybookLibrary, kind: str) -> None:
    playbook = library.playbooks[kind]
    responding = next(step for step in playbook.steps if step.state == "responding")
    assert {task.stream for task in responding.tasks} == {0, 1}


@pytest.mark.parametrize("kind", TYPES)
def test_leaders_hear_by_phone_in_15_minutes_and_in_writing_in_30_at_levels_i_and_ii(library: PlaybookLibrary, kind: str) -> None:
    playbook = library.playbooks[kind]
    phone, written = playbook.task("report_by_phone"), playbook.task("report_in_writing")
    assert phone is not None
    assert written is not None
    assert state_of(playbook, phone.code) == state_of(playbook, written.code) == "leaders_informed"
    assert phone.due == {I: minutes(15), II: minutes(15), III: minutes(30), IV: hours(24)}
    assert written.due == {I: minutes(30), II: minutes(30), III: hours(1), IV: days(3)}


@pytest.mark.parametrize("kind", TYPES)
def test_every_incident_ends_in_a_review_meeting_within_30_days(library: PlaybookLibrary, kind: str) -> None:
    playbook = library.playbooks[kind]
    meeting = playbook.task("review_meeting")
    assert meeting is not None
    assert state_of(playbook, meeting.code) == "review"
    assert meeting.due == dict.fromkeys(Level, days(30))
    assert any(h.code == "review_meeting" and h.within <= days(30) for h in playbook.recovery)


def test_a_missing_student_is_searched_for_and_verified_against_the_clock(library: PlaybookLibrary) -> None:
    playbook = library.playbooks["missing_student"]

    def first_due(state: str, level: Level) -> timedelta:
        return min(task.due[level] for task in playbook.tasks_for(state, level))

    assert [first_due("on_site_control", level) for level in Level] == [minutes(10), minutes(10), minutes(30), hours(2)]
    assert [first_due("verification", level) for level in Level] == [minutes(30), minutes(30), hours(1), hours(4)]
    assert [first_due("leaders_informed", level) for level in Level] == [minutes(15), minutes(15), minutes(30), hours(24)]
    search = playbook.task("start_search")
    assert search is not None
    assert search.due_after_start(III) == minutes(30)
    assert playbook.grade(II).criteria.zh.startswith("失联超过24小时")


def test_templates_ask_only_for_what_an_incident_can_fill(library: PlaybookLibrary) -> None:
    for playbook in playbooks(library):
        for template in (playbook.templates.family_contact, playbook.templates.public_statement):
            for text in (template.zh, template.en):
                fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
                assert fields, f"{playbook.type}: a template without placeholders"
                assert fields <= TEMPLATE_FIELDS, f"{playbook.type}: {fields - TEMPLATE_FIELDS}"
                text.format_map(dict.fromkeys(TEMPLATE_FIELDS, "x"))


def test_warning_items_name_real_checklist_items_and_opinion_grades(library: PlaybookLibrary) -> None:
    checklist = {item.code for item in load_checklist(SOP_DIR).items}
    named = {w.item for p in playbooks(library) for w in p.warning if w.source is WarningSource.CHECKLIST}
    assert named
    assert named <= checklist
    opinion = library.playbooks["online_opinion"]
    grades = {w.item: w.level for w in opinion.warning if w.source is WarningSource.OPINION}
    assert grades == {"I": I, "II": II, "III": III, "minor": IV}


@pytest.mark.parametrize(
    ("ticks", "at", "kind", "level", "opens"),
    [
        (["missing_contact"], time(14, 0), "missing_student", III, Opens.CONFIRM),
        (["missing_contact"], time(23, 10), "missing_student", III, Opens.AUTO),
        (["missing_contact", "sudden_mood_change"], time(14, 0), "missing_student", III, Opens.AUTO),
        (["missing_contact", "psychiatric_medication"], time(14, 0), "missing_student", III, Opens.AUTO),
        (["overnight_absence"], time(23, 40), "missing_student", IV, Opens.CONFIRM),
        (["farewell_behaviour"], time(14, 0), "psych_crisis", II, Opens.AUTO),
        (["suicidal_thoughts"], time(14, 0), "psych_crisis", III, Opens.AUTO),
        (["extreme_online_posts"], time(14, 0), "online_opinion", IV, Opens.CONFIRM),
        (["extreme_online_posts", "sudden_mood_change"], time(14, 0), "psych_crisis", III, Opens.CONFIRM),
        (["loan_or_fraud_victim"], time(14, 0), "fraud", III, Opens.CONFIRM),
        (["carrying_dangerous_items"], time(14, 0), "violence", III, Opens.AUTO),
    ],
)
def test_ticked_items_suggest_the_right_playbook_at_its_level_opened_at_once_or_confirmed(
    library: PlaybookLibrary, ticks: list[str], at: time, kind: str, level: Level, opens: Opens
) -> None:
    suggested = suggest(playbooks(library), checklist_facts(load_checklist(SOP_DIR), ticks, at))
    assert suggested is not None
    assert (suggested.playbook.type, suggested.level, suggested.opens) == (kind, level, opens)


def test_a_playbook_with_trigger_conditions_reads_back_from_the_snapshot_an_incident_keeps(library: PlaybookLibrary) -> None:
    missing = library.playbooks["missing_student"]
    assert any(trigger.during is not None for trigger in missing.warning)
    assert Playbook.model_validate_json(missing.model_dump_json()) == missing


def test_a_trigger_another_always_beats_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    psych = (PLAYBOOK_DIR / "psych_crisis.yaml").read_text(encoding="utf-8")
    shutil.copy(PLAYBOOK_DIR / "missing_student.yaml", tmp_path / "missing_student.yaml")
    # A psych-crisis trigger on missing_contact at Ⅱ with no condition: missing_student's never win.
    extra = "warning:\n  - source: checklist\n    item: missing_contact\n    level: II\n"
    (tmp_path / "psych_crisis.yaml").write_text(psych.replace("warning:\n", extra, 1), encoding="utf-8")
    errors = check_playbooks(tmp_path, SOP_DIR)
    text = (tmp_path / "missing_student.yaml").read_text(encoding="utf-8")
    triggers = [m.start() for m in re.finditer(r"item: missing_contact", text)]
    assert [(e.path.name, e.line, e.field) for e in errors] == [
        ("missing_student.yaml", line_of(text, "item: missing_contact", triggers[0]), "warning.0.item"),
        ("missing_student.yaml", line_of(text, "item: missing_contact", triggers[1]), "warning.1.item"),
    ]
    assert "never chosen: psych_crisis.yaml warning.0" in errors[0].reason
    result = CliRunner().invoke(app, ["playbooks", "check", "--playbook-dir", str(tmp_path), "--sop-dir", str(SOP_DIR)])
    assert result.exit_code == 1
    assert f"missing_student.yaml:{errors[0].line}: warning.0.item: never chosen" in result.output


def test_prevention_includes_the_measures_every_school_runs(library: PlaybookLibrary) -> None:
    def measure(kind: str, code: str) -> tuple[str, str, str]:
        found = next(m for m in library.playbooks[kind].prevention if m.code == code)
        return found.owner_role, found.unit_kind, found.every

    assert measure("fraud", "anti_fraud_quiz") == ("class_monitor", "class", "termly")
    assert measure("psych_crisis", "new_student_screening") == ("psych_center", "college", "yearly")
    assert measure("fire", "dorm_fire_inspection") == ("dorm_head", "dorm", "weekly")


def test_the_outline_lists_levels_and_steps_in_sop_order(library: PlaybookLibrary) -> None:
    sop = load_crisis_sop(SOP_DIR)
    lines = outline(library.playbooks["missing_student"], sop, lang="en")
    assert lines[0] == f"missing_student v{MISSING_VERSION}: Missing student (social_safety)"
    at = [next(n for n, line in enumerate(lines) if line.endswith(f"({state})")) for state in WORKING_STATES]
    assert at == sorted(at)
    assert lines[at[0]] == "  1 On-site control (on_site_control)"
    assert any("Ⅰ 10m · Ⅱ 10m · Ⅲ 30m · Ⅳ 2h" in line for line in lines)
    assert "  Ⅱ 重大: 失联超过24小时" in "\n".join(outline(library.playbooks["missing_student"], sop))


# Broken files: every error names its file, its line and its field


def edited(tmp_path: Path, old: str, new: str, *, name: str = "missing_student.yaml") -> tuple[Path, str, int]:
    """The shipped missing_student.yaml with `old` replaced once, written to `tmp_path / name`."""
    text = (PLAYBOOK_DIR / "missing_student.yaml").read_text(encoding="utf-8")
    assert old in text
    at = text.index(old)
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, path.read_text(encoding="utf-8"), at


def line_of(text: str, needle: str, start: int = 0) -> int:
    return text[: text.index(needle, start)].count("\n") + 1


BROKEN = [
    pytest.param(VERSION_LINE, "version: 1: 2\n", "version: 1: 2", "yaml", "mapping values are not allowed", id="yaml"),
    pytest.param(VERSION_LINE, VERSION_LINE + "author: 学生处\n", "author:", "author", "Extra inputs", id="unknown-key"),
    pytest.param(
        "  - level: IV\n    criteria:\n      zh: 晚归或短时失联，经辅导员、同学联系后很快确认安全。\n",
        "",
        "  - level: I\n",
        "grading",
        "at least 4 items",
        id="missing-level",
    ),
    pytest.param("  - level: IV\n", "  - level: III\n", "level: III", "grading.3.level", "defined twice", id="duplicate-level"),
    pytest.param(
        "due: {I: 30m, II: 30m, III: 1h, IV: 4h}",
        "due: {I: 30m, II: 30m, III: 1h, V: 4h}",
        "V: 4h",
        "steps.2.tasks.0.due.V",
        "'V' is not a level",
        id="bad-level-key",
    ),
    pytest.param(
        "due: {I: 10m, II: 10m, III: 30m, IV: 2h}",
        "due: {I: 10m, II: 10m, III: 30m, IV: two hours}",
        "IV: two hours",
        "steps.1.tasks.0.due.IV",
        "is not a duration",
        id="bad-duration",
    ),
    pytest.param(
        "  - state: recovery\n", "  - state: aftercare\n", "aftercare", "steps.7.state", "not a state", id="unknown-state"
    ),
    pytest.param("  - state: review\n", "  - state: closed\n", "state: closed", "steps.8.state", "final state", id="final-state"),
    pytest.param(
        "        stream: 1\n", "        stream: 2\n", "stream: 2", "steps.5.tasks.2.stream", "out of range", id="stream"
    ),
    pytest.param("        stream: 0\n", "", "code: police_search", "steps.5.tasks.0", "say which one", id="no-stream"),
    pytest.param(
        "      - code: search_team\n",
        "      - code: police_search\n",
        "code: police_search",
        "steps.5.tasks.1.code",
        "defined twice",
        id="duplicate-task",
    ),
    pytest.param(
        "    owner_role: dorm_head\n",
        "    owner_role: warden\n",
        "owner_role: warden",
        "prevention.0.owner_role",
        "not a grid role",
        id="owner-role",
    ),
    pytest.param(
        "    owner_role: dorm_head\n    unit_kind: dorm\n",
        "    owner_role: dorm_head\n    unit_kind: college\n",
        "unit_kind: college",
        "prevention.0.unit_kind",
        "holds no college",
        id="owner-out-of-reach",
    ),
    pytest.param(
        "    item: missing_contact\n",
        "    item: missing_kontakt\n",
        "missing_kontakt",
        "warning.0.item",
        "not an item of the observation checklist",
        id="checklist-item",
    ),
    pytest.param(
        "  - source: hotline\n", "  - source: opinion\n", "source: opinion", "warning.4.item", "names its item", id="no-item"
    ),
    pytest.param(
        "{student_name}同学家长您好",
        "{studnet_name}同学家长您好",
        "{studnet_name}",
        "templates.family_contact.zh",
        "unknown placeholder {studnet_name}",
        id="placeholder",
    ),
    pytest.param(
        "  - role: commander\n", "  - role: logistics\n", "role: logistics", "roles", "needs a commander", id="commander"
    ),
]


@pytest.mark.parametrize(("old", "new", "needle", "field", "reason"), BROKEN)
def test_a_broken_playbook_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, needle: str, field: str, reason: str
) -> None:
    path, text, at = edited(tmp_path, old, new)
    errors = check_playbooks(tmp_path, SOP_DIR)
    assert [(e.path, e.line, e.field) for e in errors] == [
        (path.resolve(), line_of(text, needle, at if needle in new else 0), field)
    ]
    assert reason in errors[0].reason
    assert str(errors[0]).startswith(f"{path.resolve()}:{errors[0].line}: {field}: ")
    items = [item.code for item in load_checklist(SOP_DIR).items]
    with pytest.raises(DataFileError) as caught:
        load_playbooks(tmp_path, load_crisis_sop(SOP_DIR), checklist_items=items)
    assert (caught.value.line, caught.value.field) == (errors[0].line, field)


def test_a_file_named_other_than_its_type_is_refused(tmp_path: Path) -> None:
    path, text, _ = edited(tmp_path, VERSION_LINE, VERSION_LINE, name="missing.yaml")
    [error] = check_playbooks(tmp_path, SOP_DIR)
    assert (error.path, error.line, error.field) == (path.resolve(), line_of(text, "type: missing_student"), "type")
    assert "missing.yaml" in error.reason


def test_two_files_of_one_type_are_refused(tmp_path: Path) -> None:
    edited(tmp_path, VERSION_LINE, VERSION_LINE)
    copy, text, _ = edited(tmp_path, VERSION_LINE, VERSION_LINE, name="missing_student_v2.yaml")
    errors = check_playbooks(tmp_path, SOP_DIR)
    assert {(e.path, e.line, e.field) for e in errors} == {(copy.resolve(), line_of(text, "type: missing_student"), "type")}
    assert any("already defined in missing_student.yaml" in e.reason for e in errors)
    assert any("its type must be 'missing_student_v2'" in e.reason for e in errors)


def test_every_error_of_every_file_is_listed(tmp_path: Path) -> None:
    path, text, _ = edited(tmp_path, VERSION_LINE, VERSION_LINE + "author: 学生处\n")
    text = text.replace("IV: 2h}", "IV: soon}", 1).replace("due: {I: 30m, II: 30m, III: 1h, IV: 4h}", "due: {V: 4h}", 1)
    path.write_text(text, encoding="utf-8")
    other = tmp_path / "fire.yaml"
    fire = (PLAYBOOK_DIR / "fire.yaml").read_text(encoding="utf-8")
    other.write_text(
        fire.replace("  - state: recovery\n", "  - state: aftercare\n").replace("        stream: 1\n", "        stream: 3\n"),
        encoding="utf-8",
    )
    errors = check_playbooks(tmp_path, SOP_DIR)
    assert {(e.path.name, e.field) for e in errors} == {
        ("fire.yaml", "steps.5.tasks.2.stream"),
        ("fire.yaml", "steps.7.state"),
        ("missing_student.yaml", "author"),
        ("missing_student.yaml", "steps.1.tasks.0.due.IV"),
        ("missing_student.yaml", "steps.2.tasks.0.due.V"),
    }
    lines = {e.field: e.line for e in errors if e.path.name == "missing_student.yaml"}
    assert lines == {
        "author": line_of(text, "author:"),
        "steps.1.tasks.0.due.IV": line_of(text, "IV: soon"),
        "steps.2.tasks.0.due.V": line_of(text, "{V: 4h}"),
    }


def test_all_duplicates_in_a_file_are_listed_together(tmp_path: Path) -> None:
    path, text, _ = edited(tmp_path, "      - code: search_team\n", "      - code: police_search\n")
    text = text.replace("  - code: holiday_whereabouts\n", "  - code: night_return_check\n", 1)
    path.write_text(text, encoding="utf-8")
    errors = check_playbooks(tmp_path, SOP_DIR)

    def second(needle: str) -> int:
        return line_of(text, needle, text.index(needle) + 1)

    assert [(e.line, e.field) for e in errors] == [
        (second("code: night_return_check"), "prevention.1.code"),
        (second("code: police_search"), "steps.5.tasks.1.code"),
    ]


def test_an_empty_or_absent_directory_is_an_error(tmp_path: Path) -> None:
    [empty] = check_playbooks(tmp_path, SOP_DIR)
    assert (empty.path, empty.line, empty.field) == (tmp_path.resolve(), None, "directory")
    assert "holds no playbooks" in empty.reason
    [absent] = check_playbooks(tmp_path / "nowhere", SOP_DIR)
    assert "is not a directory" in absent.reason
    with pytest.raises(DataFileError, match="holds no playbooks"):
        load_playbooks(tmp_path, load_crisis_sop(SOP_DIR))


def test_a_broken_sop_is_reported_and_the_playbooks_are_still_checked(tmp_path: Path) -> None:
    sop_dir, playbook_dir = tmp_path / "sop", tmp_path / "playbooks"
    sop_dir.mkdir()
    playbook_dir.mkdir()
    crisis = (SOP_DIR / SOP_FILE).read_text(encoding="utf-8")
    (sop_dir / SOP_FILE).write_text(crisis.replace("initial: reported", "initial: received"), encoding="utf-8")
    _path, text, _ = edited(playbook_dir, VERSION_LINE, "version: 0\n")
    errors = check_playbooks(playbook_dir, sop_dir)
    assert [(e.path.name, e.field) for e in errors] == [
        (SOP_FILE, "initial"),
        (CHECKLIST_FILE, "file"),
        ("missing_student.yaml", "version"),
    ]
    assert errors[2].line == line_of(text, "version: 0")


# The command


def test_check_lists_the_playbooks_when_all_is_well() -> None:
    result = CliRunner().invoke(app, ["playbooks", "check", "--playbook-dir", str(PLAYBOOK_DIR), "--sop-dir", str(SOP_DIR)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"10 playbooks OK: {', '.join(TYPES)}\n")
    assert f"missing_student    v{MISSING_VERSION}  学生失联" in result.output
    # Signal triggers wait for the campus-data signals that will produce them: named, not failed.
    text = (PLAYBOOK_DIR / "missing_student.yaml").read_text(encoding="utf-8")
    line = line_of(text, "item: no_campus_activity")
    assert f"notice: {PLAYBOOK_DIR / 'missing_student.yaml'}:{line}: warning.3.item: signal 'no_campus_activity'" in result.output


def test_check_prints_one_line_per_error_and_exits_1(tmp_path: Path) -> None:
    path, text, _ = edited(tmp_path, "        stream: 1\n", "        stream: 2\n")
    path.write_text(text.replace("IV: 2h}", "IV: soon}", 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["playbooks", "check", "--playbook-dir", str(tmp_path), "--sop-dir", str(SOP_DIR)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{path.resolve()}:{line_of(text, 'IV: 2h}')}: steps.1.tasks.0.due.IV: ")
    assert len(lines) == 2
    assert "1 error(s)" in lines[1]


def test_check_reports_the_stream_error_too_once_the_durations_are_fixed(tmp_path: Path) -> None:
    path, text, at = edited(tmp_path, "        stream: 1\n", "        stream: 2\n")
    result = CliRunner().invoke(app, ["playbooks", "check", "--playbook-dir", str(tmp_path), "--sop-dir", str(SOP_DIR)])
    assert result.exit_code == 1
    assert f"{path.resolve()}:{line_of(text, 'stream: 2', at)}: steps.5.tasks.2.stream: " in result.output


def test_show_prints_the_outline_in_either_language() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["playbooks", "show", "missing_student", "--lang", "en"])
    assert shown.exit_code == 0, shown.output
    assert "On-site control (on_site_control)" in shown.output
    assert "Ⅰ 10m · Ⅱ 10m · Ⅲ 30m · Ⅳ 2h" in shown.output
    assert "现场控制" in runner.invoke(app, ["playbooks", "show", "missing_student"]).output
    unknown = runner.invoke(app, ["playbooks", "show", "earthquake"])
    assert unknown.exit_code == 1
    assert "known: fire, fraud" in unknown.output
