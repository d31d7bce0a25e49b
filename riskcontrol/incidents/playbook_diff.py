"""What changed between two versions of a playbook, as changes a leader can read before adopting it. Pure.

Both versions are flattened to leaves, each reached by a path of typed terms: a field, a state, a task, a level,
an ICS role, a warning trigger, a list position, a label's language. Items of a list are named by what identifies
them (a task's code, a role, a state, a level, a warning's source and item), so moving a task within its step is
no change. An item only one side has is reported once, as added or removed, not leaf by leaf.

A term keeps its code and, where the playbook, the crisis SOP or the checklist names it, that label; so a change
keeps its structure when stored, and `Change.phrase` words it at the edge from the catalogue, in the reader's
language: `信息核实 › 核实… › 时限（Ⅰ级）：30分钟 → 10分钟`.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum
from typing import Final, Literal, get_args

from pydantic import BaseModel, ValidationError

from riskcontrol.core import i18n
from riskcontrol.core.durations import format_duration, parse_duration
from riskcontrol.core.shapes import Frozen, Label
from riskcontrol.escalation.rules import TimeWindow
from riskcontrol.incidents.playbook_rules import (
    Category,
    GradeRule,
    IcsRole,
    Level,
    Opens,
    Playbook,
    Recurrence,
    RoleDuty,
    Step,
    WarningSource,
    WarningTrigger,
)
from riskcontrol.incidents.rules import CrisisSop

# Not content: the version number and the record of revisions change with every revision; the type is the file's name.
IGNORED: Final = frozenset({"type", "version", "revisions"})
# A text longer than LONG characters is shown from CONTEXT characters before what changed to as many after it.
LONG: Final = 60
CONTEXT: Final = 12
# Lists whose items name themselves: `信息核实 › 核实…` reads better without `处置步骤 › … › 任务 ›` between.
SILENT: Final = frozenset({"steps", "tasks"})


class Kind(StrEnum):
    """What a term of a change names, and so how it is worded."""

    FIELD = "field"  # a field of the playbook (`due`, `label`): playbook.field.<code>
    NAMED = "named"  # something with its own label: a state, task, department, measure, handover, checklist item
    LEVEL = "level"  # an incident level, Ⅰ–Ⅳ
    ROLE = "role"  # an ICS role: incident.role.<code>
    GRID_ROLE = "grid_role"  # a grid role owning a measure: role.<code>
    UNIT_KIND = "unit_kind"  # the grid unit a measure is done for: unit_kind.<code>
    LANGUAGE = "language"  # the Chinese or English text of a label
    POSITION = "position"  # the n-th item of a list of texts
    TRIGGER = "trigger"  # a warning trigger, by its source and item (and which one, when the same twice)
    CATEGORY = "category"  # the playbook's category
    RECURRENCE = "recurrence"  # how often a measure recurs
    OPENS = "opens"  # what a matching trigger does
    TEXT = "text"  # words as written, a time of day
    TEMPLATE = "template"  # a message template, its `{placeholders}` worded
    DURATION = "duration"  # a time limit, written as the data file writes it (`30m`)
    FLAG = "flag"  # yes or no
    NOTHING = "nothing"  # not set


# Terms that qualify the term before them: `时限（Ⅰ级）`, `名称（中文）`, `核对清单（第2项，中文）`.
QUALIFIERS: Final = frozenset({Kind.LEVEL, Kind.LANGUAGE, Kind.POSITION})
ENUMS: Final[dict[type[StrEnum], Kind]] = {
    IcsRole: Kind.ROLE,
    Category: Kind.CATEGORY,
    Recurrence: Kind.RECURRENCE,
    Opens: Kind.OPENS,
}
# Vocabularies in the catalogue, by the prefix of their keys.
KEYS: Final = {
    Kind.FIELD: "playbook.field",
    Kind.ROLE: "incident.role",
    Kind.GRID_ROLE: "role",
    Kind.UNIT_KIND: "unit_kind",
    Kind.LANGUAGE: "playbook.language",
    Kind.CATEGORY: "playbook.category",
    Kind.RECURRENCE: "prevention.every",
    Kind.OPENS: "playbook.opens",
    Kind.FLAG: "playbook.flag",
}


class Term(Frozen):
    """One step of a change's path, or a value: what it is, its code, and its name where one is given."""

    kind: Kind
    code: str
    label: Label | None = None
    n: int = 0  # a list position (from 1), or which of the triggers with the same source and item (from 1)

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies the term in both versions (its label may be what changed)."""
        return (self.kind.value, self.code, self.n)

    def phrase(self, *, value: bool = False) -> i18n.Phrase | Label | str:
        """The term in words, to be worded in the reader's language; a level as a `value` is its numeral alone
        where the language says so (`Starting level: Ⅳ → Ⅲ`, but `Deadline (level Ⅰ)`)."""
        if self.kind in KEYS:
            return i18n.phrase(f"{KEYS[self.kind]}.{self.code}")
        if self.kind is Kind.LEVEL:
            return i18n.phrase("playbook.level_value" if value else "playbook.level", numeral=Level[self.code].numeral)
        if self.kind is Kind.POSITION:
            return i18n.phrase("playbook.position", n=self.n)
        if self.kind is Kind.TRIGGER:
            return self._trigger()
        if self.kind is Kind.DURATION:
            minutes = round(parse_duration(self.code).total_seconds() / 60)
            return i18n.phrase("playbook.duration", span=i18n.Span(minutes))
        if self.kind is Kind.NOTHING:
            return i18n.phrase("playbook.nothing")
        if self.kind is Kind.TEMPLATE:
            return _template(self.code)
        return self.label if self.label is not None else self.code  # NAMED (its label), TEXT (as written)

    def _trigger(self) -> i18n.Phrase:
        source = i18n.phrase(f"playbook.source.{self.code.partition(':')[0]}")
        named = source if self.label is None else i18n.phrase("playbook.trigger", source=source, item=self.label)
        return named if self.n <= 1 else i18n.phrase("playbook.trigger_nth", trigger=named, n=self.n)


def _template(text: str) -> i18n.Phrase | str:
    """A message template with each `{placeholder}` worded: `〔学生姓名〕同学家长您好…`."""
    parts: list[i18n.Phrase | str] = []
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return text  # the checker refuses such a template; never in a playbook in force
    for literal, name, _, _ in fields:
        if literal:
            parts.append(literal)
        if name is not None:
            parts.append(i18n.phrase("playbook.template_field", name=i18n.phrase(f"playbook.template_field.{name}")))
    if not parts:
        return ""
    worded = parts[-1]
    for part in reversed(parts[:-1]):
        worded = i18n.phrase("playbook.joined", head=part, tail=worded)
    return worded


class Change(Frozen):
    """One change: where (a path of terms), what it was and what it becomes.

    Added: `before` is None, and `after` too for an item added as a whole; removed: the other way round."""

    what: Literal["added", "removed", "changed"]
    path: tuple[Term, ...]
    before: Term | None = None
    after: Term | None = None

    def where(self) -> i18n.Phrase | Label | str:
        """The path in words, outermost first: `信息核实 › 核实… › 时限（Ⅰ级）`."""
        named: list[i18n.Phrase | Label | str] = []
        qualifiers: list[i18n.Phrase | Label | str] = []

        def close() -> None:
            if named and qualifiers:
                qualifier = qualifiers[0]
                for more in qualifiers[1:]:
                    qualifier = i18n.phrase("playbook.also", first=qualifier, then=more)
                named[-1] = i18n.phrase("playbook.qualified", term=named[-1], qualifier=qualifier)
            qualifiers.clear()

        for term in self.path:
            if term.kind is Kind.FIELD and term.code in SILENT:
                continue
            if term.kind in QUALIFIERS and named:
                qualifiers.append(term.phrase())
                continue
            close()
            named.append(term.phrase())
        close()
        if not named:
            return ""
        where = named[0]
        for inner in named[1:]:
            where = i18n.phrase("playbook.path", outer=where, inner=inner)
        return where

    def phrase(self) -> i18n.Phrase:
        """The change in words: `信息核实 › 核实… › 时限（Ⅰ级）：30分钟 → 10分钟`, `新增 …`, `删除 …（原为 …）`."""
        where = self.where()
        if self.what == "changed" and self.before is not None and self.after is not None:
            before, after = _excerpts(self.before, self.after)
            return i18n.phrase(
                "playbook.change.changed", where=where, before=before.phrase(value=True), after=after.phrase(value=True)
            )
        value = self.after if self.what == "added" else self.before
        if value is None:
            return i18n.phrase(f"playbook.change.{self.what}", where=where)
        return i18n.phrase(f"playbook.change.{self.what}_value", where=where, value=value.phrase(value=True))


def _excerpts(before: Term, after: Term) -> tuple[Term, Term]:
    """Two long texts cut to what differs between them and a little around it (`…家长您好… → …家长，您好…`),
    so the change stands out; a template is never cut inside a placeholder."""
    old, new = before.code, after.code
    if before.kind is not after.kind or before.kind not in (Kind.TEXT, Kind.TEMPLATE) or max(len(old), len(new)) <= LONG:
        return before, after
    shortest = min(len(old), len(new))
    head = next((i for i in range(shortest) if old[i] != new[i]), shortest)
    tail = next((i for i in range(shortest - head) if old[-1 - i] != new[-1 - i]), shortest - head)
    start, drop = max(0, head - CONTEXT), max(0, tail - CONTEXT)  # shown: from `start` to `drop` characters before the end
    if before.kind is Kind.TEMPLATE:
        opened = old.rfind("{", 0, start)
        if opened > old.rfind("}", 0, start):
            start = opened  # the cut fell inside a placeholder: show all of it
        closed, opens = old.find("}", len(old) - drop), old.find("{", len(old) - drop)
        if closed != -1 and (opens == -1 or closed < opens):
            drop = len(old) - closed - 1  # likewise at the other end
    return _cut(before, start, drop), _cut(after, start, drop)


def _cut(term: Term, start: int, drop: int) -> Term:
    text = term.code
    middle = text[start : len(text) - drop]
    return term.model_copy(update={"code": ("…" if start else "") + middle + ("…" if drop else "")})


@dataclass(frozen=True)
class Names:
    """Labels of the codes a playbook borrows: the crisis SOP's states and streams, the labels of warning items
    (checklist items, opinion grades) by source and code, and the checklist's categories."""

    sop: CrisisSop | None = None
    items: Mapping[tuple[WarningSource, str], Label] = field(default_factory=dict)
    categories: Mapping[str, Label] = field(default_factory=dict)

    def state(self, code: str) -> Label | None:
        state = next((s for s in self.sop.states if s.code == code), None) if self.sop is not None else None
        return state.label if state is not None else None

    def stream(self, state: str | None, index: int) -> Label | None:
        found = next((s for s in self.sop.states if s.code == state), None) if self.sop is not None else None
        return found.streams[index] if found is not None and 0 <= index < len(found.streams) else None


Route = tuple[Term, ...]
Key = tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class _Leaf:
    path: Route
    value: Term


def _item_terms(items: Sequence[object], names: Names) -> list[tuple[Term, frozenset[str]]]:
    """What names each item of a list, and the item's fields that term stands for (so they are no leaves of their
    own); a trigger repeated with the same source and item is also named by which one it is."""
    seen: dict[str, int] = {}
    terms: list[tuple[Term, frozenset[str]]] = []
    for index, item in enumerate(items):
        if isinstance(item, WarningTrigger):
            code = f"{item.source.value}:{item.item or ''}"
            seen[code] = seen.get(code, 0) + 1
            named = names.items.get((item.source, item.item)) if item.item is not None else None
            terms.append((Term(kind=Kind.TRIGGER, code=code, label=named, n=seen[code]), frozenset({"source", "item"})))
        elif isinstance(item, Step):
            terms.append((Term(kind=Kind.NAMED, code=item.state, label=names.state(item.state)), frozenset({"state"})))
        elif isinstance(item, RoleDuty):
            terms.append((Term(kind=Kind.ROLE, code=item.role.value), frozenset({"role"})))
        elif isinstance(item, GradeRule):
            terms.append((Term(kind=Kind.LEVEL, code=item.level.name), frozenset({"level"})))
        elif isinstance(item, str):
            terms.append((Term(kind=Kind.NAMED, code=item, label=names.categories.get(item)), frozenset()))
        elif isinstance(own := getattr(item, "code", None), str) and isinstance(label := getattr(item, "label", None), Label):
            terms.append((Term(kind=Kind.NAMED, code=own, label=label), frozenset({"code"})))
        else:
            terms.append((Term(kind=Kind.POSITION, code=str(index + 1), n=index + 1), frozenset()))
    return terms


def _clock(at: time) -> str:
    return f"{at.hour:02d}:{at.minute:02d}"


def _value(value: object, path: Route, names: Names, state: str | None) -> Term:
    """A leaf as a term: its kind from its type, or for a text from the field it is in."""
    name = next((t.code for t in reversed(path) if t.kind is Kind.FIELD), "")
    if value is None:
        return Term(kind=Kind.NOTHING, code="")
    if isinstance(value, bool):
        return Term(kind=Kind.FLAG, code="yes" if value else "no")
    if isinstance(value, Level):
        return Term(kind=Kind.LEVEL, code=value.name)
    for enum, kind in ENUMS.items():
        if isinstance(value, enum):
            return Term(kind=kind, code=value.value)
    if isinstance(value, timedelta):
        return Term(kind=Kind.DURATION, code=format_duration(value))
    if isinstance(value, TimeWindow):
        return Term(kind=Kind.TEXT, code=f"{_clock(value.starts)}–{_clock(value.ends)}")
    if isinstance(value, int) and name == "stream":
        label = names.stream(state, value)
        if label is None:
            return Term(kind=Kind.POSITION, code=str(value + 1), n=value + 1)
        return Term(kind=Kind.NAMED, code=str(value), label=label)
    text = " ".join(str(value).split())
    if name == "owner_role":
        return Term(kind=Kind.GRID_ROLE, code=text)
    if name == "unit_kind":
        return Term(kind=Kind.UNIT_KIND, code=text)
    if any(t.kind is Kind.FIELD and t.code == "templates" for t in path):
        return Term(kind=Kind.TEMPLATE, code=str(value))
    return Term(kind=Kind.TEXT, code=text)


def flatten(
    value: object, names: Names, path: Route = (), state: str | None = None, named: frozenset[str] = frozenset()
) -> Iterator[_Leaf]:
    """Every leaf of `value`, with the path of terms that reaches it (the fields `named` by the path's last term
    are none: a task's code is its name in the path)."""
    if isinstance(value, Label):
        for lang in ("zh", "en"):
            term = Term(kind=Kind.LANGUAGE, code=lang)
            yield _Leaf((*path, term), _value(getattr(value, lang), (*path, term), names, state))
    elif isinstance(value, BaseModel) and not isinstance(value, TimeWindow):
        for name, info in type(value).model_fields.items():
            if name in named or (not path and name in IGNORED):
                continue
            item, where = getattr(value, name), (*path, Term(kind=Kind.FIELD, code=name))
            if item is None and Label in get_args(info.annotation):
                # An optional label left out is empty in both languages, so setting it reads `无 → …`.
                for lang in ("zh", "en"):
                    yield _Leaf((*where, Term(kind=Kind.LANGUAGE, code=lang)), Term(kind=Kind.NOTHING, code=""))
                continue
            yield from flatten(item, names, where, state)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            term = Term(kind=Kind.LEVEL, code=key.name) if isinstance(key, Level) else Term(kind=Kind.TEXT, code=str(key))
            yield from flatten(item, names, (*path, term), state)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for item, (term, fields) in zip(value, _item_terms(value, names), strict=True):
            if isinstance(item, str):
                yield _Leaf((*path, term), term)  # a code in a list: its term says it all
                continue
            yield from flatten(item, names, (*path, term), item.state if isinstance(item, Step) else state, fields)
    else:
        yield _Leaf(path, _value(value, path, names, state))


def _key(path: Route) -> Key:
    return tuple(term.key for term in path)


def _leaves(playbook: Playbook, names: Names) -> dict[Key, _Leaf]:
    return {_key(leaf.path): leaf for leaf in flatten(playbook, names)}


def _whole(key: Key, other: Iterable[Key]) -> int:
    """How many terms of `key` name the item added or removed as a whole: the shortest prefix `other` has nothing under."""
    others = list(other)
    for end in range(1, len(key) + 1):
        if not any(k[:end] == key[:end] for k in others):
            return end
    return len(key)


def changes(old: Playbook, new: Playbook, names: Names | None = None) -> list[Change]:
    """What `new` changes of `old`, in the order of the file; removals last. Without `names`, states and
    warning items go unnamed."""
    names = names or Names()
    before, after = _leaves(old, names), _leaves(new, names)
    found: list[Change] = []
    reported: set[Key] = set()

    def once(what: Literal["added", "removed"], key: Key, leaf: _Leaf, other: Mapping[Key, _Leaf]) -> None:
        end = _whole(key, other)
        if key[:end] in reported:
            return
        reported.add(key[:end])
        # A leaf is shown with its value, unless the term that names it already says it.
        shown = end == len(key) and leaf.value.key != leaf.path[-1].key
        value = leaf.value if shown else None
        path = leaf.path[:end]
        found.append(Change(what=what, path=path, after=value) if what == "added" else Change(what=what, path=path, before=value))

    for key, leaf in after.items():
        if key not in before:
            once("added", key, leaf, before)
        elif before[key].value.key != leaf.value.key:
            found.append(Change(what="changed", path=leaf.path, before=before[key].value, after=leaf.value))
    for key, leaf in before.items():
        if key not in after:
            once("removed", key, leaf, after)
    return found


def stored(raw: Iterable[object]) -> list[Change | str]:
    """Changes as a revision keeps them (each a change's JSON); a line kept as text by an older version stays text."""
    out: list[Change | str] = []
    for item in raw:
        try:
            out.append(Change.model_validate(item))
        except ValidationError:
            out.append(str(item))
    return out
