"""Pure rules of the grid tree: unit kinds, which kind may sit under which, and path arithmetic."""

from __future__ import annotations

from enum import StrEnum

from riskcontrol.core.i18n import Phrase, listing, phrase


class UnitKind(StrEnum):
    SCHOOL = "school"
    COLLEGE = "college"
    CLASS = "class"
    BUILDING = "building"
    DORM = "dorm"


# The grid chain runs dorm → class → college → school. Buildings group rooms physically; a
# school may also hang rooms under a building when rooms are not assigned to one class.
PARENT_KINDS: dict[UnitKind, frozenset[UnitKind]] = {
    UnitKind.SCHOOL: frozenset(),
    UnitKind.COLLEGE: frozenset({UnitKind.SCHOOL}),
    UnitKind.CLASS: frozenset({UnitKind.COLLEGE}),
    UnitKind.BUILDING: frozenset({UnitKind.SCHOOL, UnitKind.COLLEGE}),
    UnitKind.DORM: frozenset({UnitKind.CLASS, UnitKind.BUILDING}),
}


def kind_named(kind: UnitKind) -> Phrase:
    """A kind of unit in words: 班级, class."""
    return phrase(f"unit_kind.{kind}")


def parent_problem(kind: UnitKind, parent_kind: UnitKind | None) -> Phrase | None:
    """Why a unit of `kind` cannot sit under `parent_kind`, or None when it can."""
    allowed = PARENT_KINDS[kind]
    named = listing((kind_named(k) for k in sorted(allowed)), style="or")
    if parent_kind is None:
        return None if not allowed else phrase("refusal.grid.needs_parent", kind=kind_named(kind), allowed=named)
    if parent_kind not in allowed:
        if not allowed:
            return phrase("refusal.grid.root", kind=kind_named(kind))
        return phrase("refusal.grid.wrong_parent", kind=kind_named(kind), parent=kind_named(parent_kind), allowed=named)
    return None


def path_ids(path: str) -> list[int]:
    """The unit ids along a materialised path, from the root down: "/1/2/8/" → [1, 2, 8]."""
    return [int(part) for part in path.strip("/").split("/") if part]


def child_path(parent_path: str | None, unit_id: int) -> str:
    """The materialized path of a unit: its ancestors' ids and its own, each followed by '/'."""
    return f"{parent_path or '/'}{unit_id}/"
