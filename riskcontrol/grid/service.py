"""Use cases of the grid: create units, find them, and confine queries to a caller's subtree."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from riskcontrol.core.errors import Forbidden, InvalidInput, NotFound
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid import rules
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind


def scope_clause(principal: Principal, path_column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """SQL condition: the row's unit path lies in one of the caller's subtrees."""
    if not principal.scope_paths:
        return false()
    return or_(*(path_column.like(scope + "%") for scope in principal.scope_paths))


def units_in_scope(principal: Principal, *, kind: UnitKind | None = None, parent_id: int | None = None) -> Select[OrgUnit]:
    stmt = select(OrgUnit).where(scope_clause(principal, OrgUnit.path))
    if kind is not None:
        stmt = stmt.where(OrgUnit.kind == kind.value)
    if parent_id is not None:
        stmt = stmt.where(OrgUnit.parent_id == parent_id)
    return stmt.order_by(OrgUnit.path)


def list_units(
    db: Session,
    principal: Principal,
    *,
    kind: UnitKind | None = None,
    parent_id: int | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> Sequence[OrgUnit]:
    """The units the caller may see, in tree order."""
    stmt = units_in_scope(principal, kind=kind, parent_id=parent_id).limit(limit).offset(offset)
    return db.execute(stmt).scalars().all()


def get_unit(db: Session, principal: Principal, unit_id: int) -> OrgUnit:
    """One unit; an existing unit outside the caller's scope is a denial."""
    unit = db.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(phrase("refusal.grid.no_unit", id=unit_id), field="unit_id")
    if not principal.covers(unit.path):
        raise Forbidden(phrase("refusal.grid.outside_scope", id=unit_id), field="unit_id")
    return unit


def held_units(db: Session, principal: Principal) -> dict[int, tuple[OrgUnit, OrgUnit | None]]:
    """The units the caller holds a role at, each with the unit it sits under (None for the root), by id; one query."""
    ids = {rules.path_ids(path)[-1] for _, path in principal.grants if rules.path_ids(path)}
    if not ids:
        return {}
    parent = aliased(OrgUnit, name="held_parent")
    stmt = select(OrgUnit, parent).outerjoin(parent, parent.id == OrgUnit.parent_id).where(OrgUnit.id.in_(ids))
    return {unit.id: (unit, above) for unit, above in db.execute(stmt)}


def find_by_code(db: Session, code: str) -> OrgUnit | None:
    return db.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one_or_none()


def create_unit(
    db: Session,
    *,
    code: str,
    kind: UnitKind,
    name_zh: str,
    name_en: str,
    parent: OrgUnit | None,
    building: OrgUnit | None = None,
) -> OrgUnit:
    """Add a unit under `parent` after checking the tree rules; its path is set on flush."""
    problem = rules.parent_problem(kind, UnitKind(parent.kind) if parent else None)
    if problem:
        raise InvalidInput(problem, field="parent_code")
    unit = OrgUnit(
        code=code,
        kind=kind.value,
        name_zh=name_zh,
        name_en=name_en,
        parent_id=parent.id if parent else None,
        building_id=building.id if building else None,
        depth=(parent.depth + 1) if parent else 0,
    )
    db.add(unit)
    db.flush()
    unit.path = rules.child_path(parent.path if parent else None, unit.id)
    return unit


def ancestor_ids(unit: OrgUnit) -> list[int]:
    """Ids from the root down to `unit` itself, read off the materialized path."""
    return [int(part) for part in unit.path.strip("/").split("/") if part]
