"""Pure rules of the grid tree: unit kinds, which kind may sit under which, and path arithmetic."""

from __future__ import annotations

from enum import StrEnum


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


def parent_problem(kind: UnitKind, parent_kind: UnitKind | None) -> str | None:
    """Why a unit of `kind` cannot sit under `parent_kind`, or None when it can."""
    allowed = PARENT_KINDS[kind]
    if parent_kind is None:
        return None if not allowed else f"a {kind} needs a parent ({' or '.join(sorted(allowed))})"
    if parent_kind not in allowed:
        if not allowed:
            return f"a {kind} is the root and has no parent"
        return f"a {kind} cannot sit under a {parent_kind} (allowed: {', '.join(sorted(allowed))})"
    return None


def path_ids(path: str) -> list[int]:
    """The unit ids along a materialised path, from the root down: "/1/2/8/" → [1, 2, 8]."""
    return [int(part) for part in path.strip("/").split("/") if part]


def child_path(parent_path: str | None, unit_id: int) -> str:
    """The materialized path of a unit: its ancestors' ids and its own, each followed by '/'."""
    return f"{parent_path or '/'}{unit_id}/"
