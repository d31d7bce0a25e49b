"""What changed between two versions of a playbook, in lines a leader can read before adopting it. Pure.

Both versions are flattened to `path: value` leaves. Items of a list are named by what identifies them
(a task's code, a role, a state, a level, a warning's source and item), so moving a task within its
step is no change and a changed deadline reads `steps.responding.tasks.search.due.II: 30m → 15m`.
An item only one side has is reported once, as added or removed, not leaf by leaf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Final

from pydantic import BaseModel

from riskcontrol.core.durations import format_duration
from riskcontrol.incidents.playbook_rules import Level, Playbook, WarningTrigger

# Not content: the version number and the record of revisions change with every revision.
IGNORED: Final = frozenset({"version", "revisions"})
SHOWN: Final = 80  # characters of a value shown in a change line


@dataclass(frozen=True)
class Change:
    path: str
    before: str | None  # None: added
    after: str | None  # None: removed

    def line(self) -> str:
        if self.before is None:
            return f"+ {self.path}" + (f": {_short(self.after)}" if self.after else "")
        if self.after is None:
            return f"- {self.path}"
        return f"{self.path}: {_short(self.before)} → {_short(self.after)}"


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _identity(item: object) -> str | None:
    if isinstance(item, WarningTrigger):
        return f"{item.source.value}:{item.item or '-'}"
    for name in ("code", "role", "state", "level"):
        value = getattr(item, name, None)
        if value is not None:
            return _leaf(value)
    return None


def _leaf(value: object) -> str:
    if isinstance(value, Level):
        return value.name
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return "—" if value is None else str(value)


def flatten(value: object, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """Every leaf of `value` by its path."""
    if isinstance(value, BaseModel):
        return _flatten_items(((name, getattr(value, name)) for name in type(value).model_fields), path)
    if isinstance(value, Mapping):
        return _flatten_items(((_leaf(k), v) for k, v in value.items()), path)
    if isinstance(value, Sequence) and not isinstance(value, str):
        names = [_identity(item) for item in value]
        if any(name is None for name in names) or len(set(names)) != len(names):
            names = [str(i) for i in range(len(value))]
        return _flatten_items(((str(name), item) for name, item in zip(names, value, strict=True)), path)
    return {path: _leaf(value)}


def _flatten_items(items: Iterable[tuple[str, object]], path: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    out: dict[tuple[str, ...], str] = {}
    for name, item in items:
        out |= flatten(item, (*path, name))
    return out


def _content(playbook: Playbook) -> dict[tuple[str, ...], str]:
    return {path: value for path, value in flatten(playbook).items() if path[0] not in IGNORED}


def changes(old: Playbook, new: Playbook) -> list[Change]:
    """What `new` changes of `old`, in the order of the file."""
    before, after = _content(old), _content(new)
    found: list[Change] = []
    reported: set[tuple[str, ...]] = set()

    def whole(path: tuple[str, ...], other: Mapping[tuple[str, ...], str]) -> tuple[str, ...]:
        """The shortest prefix of `path` that `other` has nothing under: the item added or removed as a whole."""
        for end in range(1, len(path) + 1):
            prefix = path[:end]
            if not any(p[:end] == prefix for p in other):
                return prefix
        return path

    for path, value in after.items():
        if path in before:
            if before[path] != value:
                found.append(Change(".".join(path), before[path], value))
            continue
        item = whole(path, before)
        if item not in reported:
            reported.add(item)
            found.append(Change(".".join(item), None, value if item == path else ""))
    for path in before:
        if path not in after:
            item = whole(path, after)
            if item not in reported:
                reported.add(item)
                found.append(Change(".".join(item), before[path] if item == path else "", None))
    return found
