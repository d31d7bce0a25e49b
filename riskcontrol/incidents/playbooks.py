"""The playbooks (预案) of a school's playbook directory: loaded once per file version, checked, outlined."""

from __future__ import annotations

import os
import string
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Final

import yaml

from riskcontrol.core.datafiles import DataFileError, Loc, error_at, validate_all
from riskcontrol.core.durations import format_duration
from riskcontrol.core.i18n import Phrase, phrase, word
from riskcontrol.core.shapes import Label
from riskcontrol.grid.rules import PARENT_KINDS, UnitKind
from riskcontrol.incidents.playbook_diff import Names
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, Level, Playbook, Revision, WarningSource, never_chosen, sop_problems
from riskcontrol.incidents.rules import CrisisSop
from riskcontrol.incidents.sop import load_crisis_sop
from riskcontrol.observations.catalog import load_checklist
from riskcontrol.observations.opinion_service import load_policy as load_opinion_policy
from riskcontrol.people.rules import ROLE_UNIT_KINDS, Role

PLAYBOOK_GLOB: Final = "*.yaml"
# What a template may ask for; the incident fills each of them (an empty string when unknown).
TEMPLATE_FIELDS: Final = frozenset(
    {"student_name", "school_name", "incident_time", "location", "contact_name", "contact_phone", "summary"}
)
# Grid roles that may own a standing measure; keeping accounts (admin) is no safety work.
MEASURE_OWNERS: Final = frozenset(Role) - {Role.ADMIN}


@dataclass(frozen=True)
class PlaybookLibrary:
    """The validated playbooks of one directory, by incident type."""

    playbooks: Mapping[str, Playbook]

    def get(self, type: str) -> Playbook | None:
        return self.playbooks.get(type)

    def types(self) -> list[str]:
        return sorted(self.playbooks)


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1  # validate_all then reports the unreadable file with its name


@dataclass(frozen=True)
class Vocabulary:
    """The checklist's item and category codes, which checklist triggers must name."""

    items: frozenset[str]
    categories: frozenset[str] | None = None


def _vocabulary(items: Collection[str] | None, categories: Collection[str] | None) -> Vocabulary | None:
    if items is None:
        return None
    return Vocabulary(frozenset(items), frozenset(categories) if categories is not None else None)


def load_playbooks(
    playbook_dir: Path,
    sop: CrisisSop,
    *,
    checklist_items: Collection[str] | None = None,
    checklist_categories: Collection[str] | None = None,
) -> PlaybookLibrary:
    """Every playbook in `playbook_dir`, fitted to `sop` (and, when given, to the checklist's item and
    category codes); raises the first DataFileError, which names file, line and field."""
    directory = playbook_dir.resolve()
    files = sorted(directory.glob(PLAYBOOK_GLOB))
    stamps = tuple((path.name, _stamp(path)) for path in files)
    return _load(directory, stamps, sop, _vocabulary(checklist_items, checklist_categories))


@lru_cache(maxsize=8)
def _load(directory: Path, stamps: tuple[tuple[str, int], ...], sop: CrisisSop, items: Vocabulary | None) -> PlaybookLibrary:
    playbooks, errors = _read_all(directory, [directory / name for name, _ in stamps], sop, items)
    if errors:
        raise errors[0]
    return PlaybookLibrary(MappingProxyType(playbooks))


def diff_names(sop_dir: Path) -> Names:
    """The labels a playbook's changes are worded with: the crisis SOP's states and streams, the checklist's
    items and categories, and the opinion grades a trigger may name."""
    checklist = load_checklist(sop_dir)
    items = {(WarningSource.CHECKLIST, i.code): Label(zh=i.zh, en=i.en) for i in checklist.items}
    items |= {(WarningSource.OPINION, g.code): Label(zh=g.label.zh, en=g.label.en) for g in load_opinion_policy(sop_dir).grades}
    categories = {c.code: Label(zh=c.zh, en=c.en) for c in checklist.categories}
    return Names(load_crisis_sop(sop_dir), items, categories)


def check_playbooks(playbook_dir: Path, sop_dir: Path) -> list[DataFileError]:
    """Every error in every playbook of `playbook_dir`, checked against the SOP files of `sop_dir`."""
    errors: list[DataFileError] = []
    sop: CrisisSop | None = None
    items: Vocabulary | None = None
    try:
        sop = load_crisis_sop(sop_dir)
    except DataFileError as exc:
        errors.append(exc)
    try:
        checklist = load_checklist(sop_dir)
        items = Vocabulary(frozenset(i.code for i in checklist.items), frozenset(c.code for c in checklist.categories))
    except DataFileError as exc:
        errors.append(exc)
    directory = playbook_dir.resolve()
    errors += _read_all(directory, sorted(directory.glob(PLAYBOOK_GLOB)), sop, items)[1]
    return errors


def _read_all(
    directory: Path, files: list[Path], sop: CrisisSop | None, items: Vocabulary | None
) -> tuple[dict[str, Playbook], list[DataFileError]]:
    """The valid playbooks by type, and every error of every file (a file with errors yields no playbook)."""
    if not files:
        what = "holds no playbooks" if directory.is_dir() else "is not a directory"
        return {}, [DataFileError(directory, None, "directory", f"{what} ({PLAYBOOK_GLOB})")]
    playbooks: dict[str, Playbook] = {}
    sources: dict[str, Path] = {}
    errors: list[DataFileError] = []
    for path in files:
        playbook, found = validate_all(path, Playbook)
        if playbook is not None:
            problems = fit_problems(playbook, path.stem, sop, items)
            if playbook.type in sources:
                problems.append((("type",), f"type {playbook.type!r} is already defined in {sources[playbook.type].name}"))
            found = [error_at(path, loc, reason) for loc, reason in problems]
            sources.setdefault(playbook.type, path)
            if not found:
                playbooks[playbook.type] = playbook
        errors += sorted(found, key=lambda e: e.line or 0)  # top to bottom, as an editor shows them
    for kind, index, reason in never_chosen(list(playbooks.values())):
        errors.append(error_at(sources[kind], ("warning", index, "item"), reason))
    return playbooks, errors


def waiting_for_signals(playbook_dir: Path, library: PlaybookLibrary) -> list[DataFileError]:
    """The campus-data signal triggers, each at its file and line: nothing produces signals yet (they
    come with the early-warning signals of campus data), so these cannot fire today. A notice, not an
    error: the playbooks name them ahead of the signals that will."""
    found = []
    for kind, playbook in library.playbooks.items():
        for i, trigger in enumerate(playbook.warning):
            if trigger.source is WarningSource.SIGNAL:
                why = f"signal {trigger.item!r} cannot fire yet: no campus-data signal produces it"
                found.append(error_at(playbook_path(playbook_dir, kind), ("warning", i, "item"), why))
    return found


def playbook_path(playbook_dir: Path, type: str) -> Path:
    """Where the playbook of `type` lives: files are named after their type."""
    return playbook_dir.resolve() / f"{type}.yaml"


def check_text(
    type: str,
    text: str,
    sop: CrisisSop,
    *,
    checklist_items: Collection[str] | None = None,
    checklist_categories: Collection[str] | None = None,
) -> tuple[Playbook | None, list[DataFileError]]:
    """A proposed text of the playbook of `type`, checked exactly as the file would be: the playbook, or None
    and every error (each names the line and field, in a file named `{type}.yaml`)."""
    items = _vocabulary(checklist_items, checklist_categories)
    with tempfile.TemporaryDirectory(prefix="playbook-") as tmp:
        path = Path(tmp) / f"{type}.yaml"
        path.write_text(text, encoding="utf-8")
        playbooks, errors = _read_all(Path(tmp), [path], sop, items)
    return playbooks.get(type), [DataFileError(Path(f"{type}.yaml"), e.line, e.field, e.reason) for e in errors]


def _revisions_node(root: yaml.Node | None) -> yaml.Node | None:
    if not isinstance(root, yaml.MappingNode):
        return None
    return next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "revisions"), None)


def revisions_last_problem(text: str) -> Phrase | None:
    """Why a revision record cannot be appended to `text`: `revisions`, when present, must be the last key
    and a block list (`- version: …` lines)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return phrase("refusal.revision.not_mapping")
    node = _revisions_node(root)
    if node is None:
        return None
    if root.value[-1][1] is not node:
        return phrase("refusal.revision.revisions_last")
    if not isinstance(node, yaml.SequenceNode) or node.flow_style or not node.value:
        return phrase("refusal.revision.revisions_list")
    return None


def with_revision(text: str, revision: Revision) -> str:
    """`text` with `revision` appended to its `revisions` list (made the last key when there is none);
    the rest of the file, comments included, stays as written."""
    problem = revisions_last_problem(text)
    if problem is not None:
        raise ValueError(word("en", problem))
    entry = yaml.safe_dump([revision.model_dump(mode="json")], allow_unicode=True, sort_keys=False, width=1000)
    item = "".join(f"  {line}\n" for line in entry.splitlines())
    body = text if text.endswith("\n") else text + "\n"
    if _revisions_node(yaml.compose(text, Loader=yaml.SafeLoader)) is not None:
        return body + item
    return body + "\nrevisions:\n" + item


def write_playbook(playbook_dir: Path, type: str, text: str) -> None:
    """Replace the playbook file of `type` with `text` at once (readers see the old file or the new one)."""
    path = playbook_path(playbook_dir, type)
    fd, tmp = tempfile.mkstemp(prefix=f".{type}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fit_problems(playbook: Playbook, stem: str, sop: CrisisSop | None, checklist: Vocabulary | None) -> list[tuple[Loc, str]]:
    """Where a valid playbook does not fit its file name, the SOP, the grid roles, the checklist or the templates."""
    problems: list[tuple[Loc, str]] = []
    if playbook.type != stem:
        problems.append((("type",), f"the file is {stem}.yaml, so its type must be {stem!r} (or rename the file)"))
    if sop is not None:
        problems += sop_problems(playbook, sop)
    for i, measure in enumerate(playbook.prevention):
        for loc, reason in _measure_problems(measure.owner_role, measure.unit_kind):
            problems.append((("prevention", i, *loc), reason))
    if checklist is not None:
        for i, trigger in enumerate(playbook.warning):
            if trigger.source is not WarningSource.CHECKLIST:
                continue
            if trigger.item not in checklist.items:
                problems.append((("warning", i, "item"), f"{trigger.item!r} is not an item of the observation checklist"))
            for j, category in enumerate(trigger.with_category):
                if checklist.categories is not None and category not in checklist.categories:
                    problems.append((("warning", i, "with_category", j), f"{category!r} is not a checklist category"))
    for name in ("family_contact", "public_statement"):
        template: Label = getattr(playbook.templates, name)
        for lang in ("zh", "en"):
            if (problem := _template_problem(getattr(template, lang))) is not None:
                problems.append((("templates", name, lang), problem))
    return problems


def _measure_problems(owner_role: str, unit_kind: str) -> list[tuple[Loc, str]]:
    if owner_role not in MEASURE_OWNERS:
        return [(("owner_role",), f"{owner_role!r} is not a grid role; write one of {', '.join(sorted(MEASURE_OWNERS))}")]
    if unit_kind not in set(UnitKind):
        return [(("unit_kind",), f"{unit_kind!r} is not a unit kind; write one of {', '.join(UnitKind)}")]
    held = ROLE_UNIT_KINDS[Role(owner_role)]
    if not held & ({UnitKind(unit_kind)} | _ancestors(UnitKind(unit_kind))):
        where = " or ".join(sorted(held))
        return [(("unit_kind",), f"a {owner_role} is held at a {where}, which holds no {unit_kind}; no one could own its rounds")]
    return []


def _ancestors(kind: UnitKind) -> frozenset[UnitKind]:
    """Every kind a unit of `kind` may sit under, however far up the grid."""
    found: set[UnitKind] = set()
    frontier = set(PARENT_KINDS[kind])
    while frontier:
        found |= frontier
        frontier = {parent for k in frontier for parent in PARENT_KINDS[k]} - found
    return frozenset(found)


def _template_problem(text: str) -> str | None:
    """Why a template cannot be filled from an incident, or None when it can."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return f"{exc} (write a literal brace as {{{{ or }}}})"
    for name, spec, conversion in fields:
        if name not in TEMPLATE_FIELDS:
            return f"unknown placeholder {{{name}}}; use {', '.join('{' + f + '}' for f in sorted(TEMPLATE_FIELDS))}"
        if spec or conversion:
            return f"placeholder {{{name}}} takes no format spec or conversion"
    return None


_ICS_ZH: Final = {
    "commander": "总指挥",
    "scribe": "记录员",
    "liaison": "联络员",
    "information_officer": "信息发布",
    "operations": "现场处置",
    "safety": "安全",
    "logistics": "后勤保障",
}


def outline(playbook: Playbook, sop: CrisisSop, *, lang: str = "zh") -> list[str]:
    """A readable outline of a loaded playbook for staff: levels, roles, measures, triggers, steps with due times."""

    def name(label: Label) -> str:
        return label.zh if lang == "zh" else label.en

    def role(code: str) -> str:
        return _ICS_ZH.get(code, code) if lang == "zh" else code

    lines = [f"{playbook.type} v{playbook.version}: {name(playbook.label)} ({playbook.category})", name(playbook.summary), ""]
    lines.append("分级" if lang == "zh" else "Levels")
    for grade in sorted(playbook.grading, key=lambda g: g.level):
        lines.append(f"  {grade.level.numeral} {name(LEVEL_NAMES[grade.level])}: {name(grade.criteria)}")
    lines.append("角色" if lang == "zh" else "Roles")
    lines += [f"  {role(r.role)}: {name(r.holder)} — {name(r.duties)}" for r in playbook.roles]
    lines.append("预防" if lang == "zh" else "Prevention")
    for m in playbook.prevention:
        lines.append(f"  {name(m.label)} [{m.every}, {m.owner_role} @ {m.unit_kind}, {format_duration(m.allow)}]")
    lines.append("预警" if lang == "zh" else "Warning")
    for w in playbook.warning:
        note = f" ({name(w.note)})" if w.note else ""
        lines.append(f"  {w.source}{':' + w.item if w.item else ''} → {w.level.numeral}{note}")
    lines.append("步骤（时限自事件开始计）" if lang == "zh" else "Steps (due from the incident's start)")
    steps = {s.state: s for s in playbook.steps}
    for state in sop.states:
        if (step := steps.get(state.code)) is None:
            continue
        lines.append(f"  {state.step or '-'} {name(state.label)} ({state.code})")
        for task in step.tasks:
            stream = f" [{name(state.streams[task.stream])}]" if task.stream is not None else ""
            due = " · ".join(f"{lvl.numeral} {format_duration(task.due[lvl])}" for lvl in Level if lvl in task.due)
            lines.append(f"    - {name(task.label)}{stream} ({role(task.owner)}; {due})")
            lines += [f"        □ {name(item)}" for item in task.checklist]
    lines.append("善后移交" if lang == "zh" else "Recovery handover")
    lines += [f"  {name(h.label)} ({role(h.owner)}; {format_duration(h.within)})" for h in playbook.recovery]
    lines.append("模板" if lang == "zh" else "Templates")
    lines.append(f"  family_contact: {name(playbook.templates.family_contact)}")
    lines.append(f"  public_statement: {name(playbook.templates.public_statement)}")
    if playbook.revisions:
        lines.append("修订记录" if lang == "zh" else "Revisions")
        for revision in playbook.revisions:
            source = f" ({revision.source})" if revision.source else ""
            lines.append(f"  v{revision.version} {revision.adopted.isoformat()}: {revision.why}{source}")
            lines += [f"      {change if isinstance(change, str) else name(change)}" for change in revision.changes]
    return lines
