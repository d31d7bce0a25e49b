"""High-risk zones of the risk map: polygons with a level, a reason, the times they are dangerous, and
whether students may be shown them; drawn and moved by the safety office, in scope and audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import path_ids
from riskcontrol.grid.service import scope_clause
from riskcontrol.hazards.geometry import geometry_of
from riskcontrol.hazards.models import Zone
from riskcontrol.hazards.schemas import ZoneEditIn, ZoneIn
from riskcontrol.hazards.service import audit_change, require_manager, unit_in_scope


def _windows(data: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for i, window in enumerate(data):
        if len(set(window.days)) != len(window.days) or any(d < 1 or d > 7 for d in window.days):
            raise InvalidInput(phrase("refusal.zone.days"), field=f"windows.{i}.days")
        if window.start == window.end:
            raise InvalidInput(phrase("refusal.zone.window_empty"), field=f"windows.{i}.end")
        out.append({"days": sorted(window.days), "start": window.start, "end": window.end})
    return out


def zones_in_scope(db: Session, principal: Principal, *, active_only: bool = True) -> list[Zone]:
    stmt = select(Zone).where(scope_clause(principal, Zone.unit_path))
    if active_only:
        stmt = stmt.where(Zone.active.is_(True))
    return list(db.execute(stmt.order_by(Zone.id)).scalars())


def public_zones(db: Session) -> list[Zone]:
    """Every active zone marked public: what may be shown to students."""
    return list(db.execute(select(Zone).where(Zone.public.is_(True), Zone.active.is_(True)).order_by(Zone.id)).scalars())


def get_zone(db: Session, principal: Principal, zone_id: int) -> Zone:
    zone = db.get(Zone, zone_id)
    if zone is None or not principal.covers(zone.unit_path):
        raise missing_or_private(db, Zone, zone_id, message=phrase("refusal.zone.not_found", id=zone_id), field="zone_id")
    return zone


def _home_unit(db: Session, principal: Principal) -> OrgUnit:
    ids = [path_ids(path)[-1] for path in principal.scope_paths if path_ids(path)]
    unit = db.get(OrgUnit, ids[0]) if ids else None
    if unit is None:
        raise InvalidInput(phrase("refusal.zone.unit_missing"), field="unit_id")
    return unit


def create_zone(db: Session, clock: Clock, principal: Principal, data: ZoneIn) -> Zone:
    require_manager(principal)
    unit = unit_in_scope(db, principal, data.unit_id, "unit_id") if data.unit_id is not None else _home_unit(db, principal)
    geometry, lon, lat = geometry_of(data.location)
    now = clock.now()
    zone = Zone(
        name=data.name,
        level=data.level,
        reason=data.reason,
        windows=_windows(data.windows),
        geometry=geometry,
        lon=lon,
        lat=lat,
        public=data.public,
        tip=data.tip,
        active=True,
        unit_id=unit.id,
        unit_path=unit.path,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    db.add(zone)
    db.flush()
    audit_change(db, clock, principal, "zone.create", "zone", zone.id, name=data.name, public=data.public)
    return zone


def edit_zone(db: Session, clock: Clock, principal: Principal, zone_id: int, data: ZoneEditIn) -> Zone:
    zone = get_zone(db, principal, zone_id)
    require_manager(principal)
    changed: list[str] = []
    for name in ("name", "level", "reason", "public", "tip", "active"):
        value = getattr(data, name)
        if value is not None and value != getattr(zone, name):
            setattr(zone, name, value)
            changed.append(name)
    if data.windows is not None:
        zone.windows = _windows(data.windows)
        changed.append("windows")
    if data.location is not None:
        zone.geometry, zone.lon, zone.lat = geometry_of(data.location)
        changed.append("location")
    if changed:
        zone.updated_at = clock.now()
        audit_change(db, clock, principal, "zone.edit", "zone", zone.id, fields=changed)
    return zone
