"""What the risk map shows a caller, read from the database: hazards, zones, open incidents and the heat of
past warnings by place, each inside the caller's grid scope; and the public map for students.

Places: a record is put on the map by its own coordinates when it has them (a hazard always can; an
observation filed with the phone's position), else by its unit's building (a dorm room's building is a
place of `risk_map/places.yaml` with the same code), else by a place named in its location text (an
incident "东区1号楼" is drawn at that building). What cannot be placed is left off and counted.
The heat layer is aggregated to cells of about 20 m and carries counts only, never a name.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskcontrol.core import i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.service import scope_clause
from riskcontrol.hazards import zones
from riskcontrol.hazards.models import Hazard, Zone
from riskcontrol.hazards.places import Places, load_places
from riskcontrol.hazards.rules import OPEN_STATES, RiskMatrix
from riskcontrol.incidents.config import machine_of
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.playbook_rules import Level as IncidentLevel
from riskcontrol.observations.models import Observation
from riskcontrol.riskmap.base_layers import BaseLayers, load_base_layers
from riskcontrol.riskmap.render import HeatPoint, MapHazard, MapIncident, MapLabel, MapZone
from riskcontrol.riskmap.rules import Lang

PLACES_FILE: Final = "places.yaml"
HEAT_DAYS: Final = 365
HEAT_CELL: Final = 0.0002  # degrees: about 20 m on a campus in China
HEAT_WEIGHTS: Final = {"red": 3.0, "yellow": 2.0}
_STATE_LABELS: Final = {
    "reported": ("待评估", "Reported"),
    "assessed": ("已评估", "Assessed"),
    "assigned": ("已交办", "Assigned"),
    "rectifying": ("整改中", "Rectifying"),
    "awaiting_acceptance": ("待验收", "Awaiting acceptance"),
    "closed": ("已销号", "Closed"),
    "dismissed": ("已撤销", "Dismissed"),
}
_DAYS_ZH: Final = "一二三四五六日"
_DAYS_EN: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@functools.lru_cache(maxsize=4)
def _layers(directory: Path, _stamp: tuple[float, ...]) -> tuple[BaseLayers, Places]:
    return load_base_layers(directory), load_places(directory / PLACES_FILE)


def campus(directory: Path) -> tuple[BaseLayers, Places]:
    """The base layers and named places of `directory`, read again only when a file there changes."""
    stamp = tuple(sorted(p.stat().st_mtime for p in directory.iterdir() if p.suffix in {".geojson", ".yaml"}))
    return _layers(directory, stamp)


def campus_labels(base: BaseLayers, places: Places, lang: Lang) -> list[MapLabel]:
    """The names written on the map: every named place, by the name reports use (东区1号楼), at its point;
    then each building OpenStreetMap names that no place stands for, at the middle of its outline."""
    labels = [MapLabel(p.name(lang), p.lon, p.lat) for p in places.places]
    taken = {p.osm for p in places.places if p.osm}
    for feature in base.buildings["features"]:
        props = feature["properties"]
        name = (props.get("name:en") or props.get("name")) if lang == "en" else props.get("name")
        if not name or feature.get("id") in taken:
            continue
        ring = _outer_ring(feature["geometry"])
        labels.append(MapLabel(str(name), sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)))
    return labels


def _outer_ring(geometry: dict[str, Any]) -> list[list[float]]:
    polygon = geometry["coordinates"] if geometry["type"] == "Polygon" else geometry["coordinates"][0]
    ring: list[list[float]] = polygon[0]
    return ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring


@dataclass
class MapContent:
    hazards: list[MapHazard] = field(default_factory=list)
    zones: list[MapZone] = field(default_factory=list)
    incidents: list[MapIncident] = field(default_factory=list)
    heat: list[HeatPoint] = field(default_factory=list)
    unplaced: dict[str, int] = field(default_factory=dict)


def _pick(lang: Lang, zh: str, en: str) -> str:
    return zh if lang == "zh-CN" else en


def windows_label(windows: Sequence[dict[str, object]], lang: Lang) -> str:
    """When a zone applies, e.g. "每天 22:00–06:00" or "at all times"."""
    if not windows:
        return _pick(lang, "全天", "At all times")
    parts = []
    for window in windows:
        raw = window.get("days")
        days = [int(str(d)) for d in raw] if isinstance(raw, list) else list(range(1, 8))
        if days == list(range(1, 8)):
            when = _pick(lang, "每天", "Daily")
        elif lang == "zh-CN":
            when = "周" + "、".join(_DAYS_ZH[d - 1] for d in days)
        else:
            when = ", ".join(_DAYS_EN[d - 1] for d in days)
        parts.append(f"{when} {window.get('start')}–{window.get('end')}")
    return "; ".join(parts)


def map_zone(zone: Zone, lang: Lang) -> MapZone:
    ring = tuple((float(lon), float(lat)) for lon, lat in zone.geometry["coordinates"][0])
    return MapZone(
        id=zone.id,
        name=zone.name,
        level=zone.level,  # type: ignore[arg-type]  # checked on input: red, orange, yellow or blue
        reason=zone.reason,
        windows_label=windows_label(zone.windows, lang),
        public=zone.public,
        ring=ring,
    )


def map_hazards(
    db: Session, principal: Principal, matrix: RiskMatrix, lang: Lang, tz: tzinfo
) -> tuple[list[MapHazard], int, int]:
    """The open, assessed hazards in scope that have a position; how many open ones have no position, and how
    many are not yet assessed (they have no colour until then: the ledger lists them)."""
    stmt = (
        select(
            Hazard.id,
            Hazard.title,
            Hazard.level,
            Hazard.category,
            Hazard.state,
            Hazard.lon,
            Hazard.lat,
            Hazard.overdue,
            Hazard.deadline,
        )
        .where(scope_clause(principal, Hazard.unit_path), Hazard.state.in_([s.value for s in OPEN_STATES]))
        .order_by(Hazard.id)
    )
    categories = {c.code: _pick(lang, c.zh, c.en) for c in matrix.categories}
    bands = {b.code: _pick(lang, b.label.zh, b.label.en) for b in matrix.bands}
    out, unplaced, unassessed = [], 0, 0
    for row in db.execute(stmt):
        if row.lon is None or row.lat is None:
            unplaced += 1
            continue
        if row.level is None:
            unassessed += 1
            continue
        out.append(
            MapHazard(
                id=row.id,
                title=row.title,
                level=row.level,
                level_label=bands.get(row.level, row.level),
                category_label=categories.get(row.category, row.category),
                state_label=_pick(lang, *_STATE_LABELS.get(row.state, (row.state, row.state))),
                lon=row.lon,
                lat=row.lat,
                overdue=row.overdue,
                deadline_label=i18n.day(row.deadline, lang, tz) if row.deadline is not None else None,
                url=f"/api/v1/hazards/{row.id}",
            )
        )
    return out, unplaced, unassessed


class _Placer:
    """Finds where a unit or a location text is on the map."""

    def __init__(self, db: Session, places: Places) -> None:
        self.places = places
        self.building_code: dict[int, str] = {}
        self.db = db
        self.names = sorted(((p.zh, p.code) for p in places.places), key=lambda pair: -len(pair[0]))

    def units(self, unit_ids: set[int]) -> None:
        missing = unit_ids - set(self.building_code)
        if not missing:
            return
        building = OrgUnit.__table__.alias("building")
        stmt = (
            select(OrgUnit.id, OrgUnit.kind, OrgUnit.code, building.c.code)
            .outerjoin(building, building.c.id == OrgUnit.building_id)
            .where(OrgUnit.id.in_(missing))
        )
        for unit_id, kind, code, building_code in self.db.execute(stmt):
            self.building_code[unit_id] = building_code or (code if kind == "building" else "")

    def of_unit(self, unit_id: int) -> tuple[float, float] | None:
        place = self.places.by_code.get(self.building_code.get(unit_id, ""))
        return (place.lon, place.lat) if place is not None else None

    def of_record(self, unit_id: int, location: object) -> tuple[float, float] | None:
        """A record by its own position when it has one (a phone's), else by its unit's building."""
        if isinstance(location, dict) and "lon" in location and "lat" in location:
            return float(location["lon"]), float(location["lat"])
        return self.of_unit(unit_id)

    def of_text(self, text: str) -> tuple[float, float] | None:
        for name, code in self.names:
            if name and name in text:
                place = self.places.by_code[code]
                return place.lon, place.lat
        return None


# How far around a pin its small map reaches, each way: about 250 m on a campus in China.
PIN_REACH: Final = 0.0025


@dataclass(frozen=True)
class Pin:
    """Where one record stands on the campus map (WGS-84), the named place it is at, and the buildings and
    roads around it: enough for a small map without tiles."""

    lon: float
    lat: float
    place: str | None
    surroundings: dict[str, Any]


def pin(db: Session, directory: Path, unit_id: int, location: object, lang: Lang) -> Pin | None:
    """A record's pin: by its own position when it has one (a phone's), else by its unit's building (see the
    module's note on places); None when it cannot be placed."""
    base, places = campus(directory)
    placer = _Placer(db, places)
    placer.units({unit_id})
    where = placer.of_record(unit_id, location)
    if where is None:
        return None
    place = places.by_code.get(placer.building_code.get(unit_id, ""))
    return Pin(where[0], where[1], place.name(lang) if place is not None else None, base.around(*where, PIN_REACH))


def map_incidents(db: Session, principal: Principal, placer: _Placer, lang: Lang) -> tuple[list[MapIncident], int]:
    rows = list(
        db.execute(
            select(Incident)
            .where(Incident.is_open.is_(True), scope_clause(principal, Incident.unit_path))
            .order_by(Incident.started_at)
        ).scalars()
    )
    placer.units({i.unit_id for i in rows})
    out, unplaced = [], 0
    for incident in rows:
        where = placer.of_unit(incident.unit_id) or placer.of_text(incident.location)
        if where is None:
            unplaced += 1
            continue
        level = IncidentLevel(incident.level)
        state = machine_of(incident).sop.state(incident.state)
        out.append(
            MapIncident(
                id=incident.id,
                title=("【演练】" if incident.drill else "") + incident.title,
                level_numeral=level.numeral,
                colour=_COLOURS[level.colour],
                state_label=_pick(lang, state.label.zh, state.label.en),
                lon=where[0],
                lat=where[1],
                url=f"/incidents/{incident.id}",
            )
        )
    return out, unplaced


_COLOURS: Final = {"red": "#c62828", "orange": "#ef6c00", "yellow": "#f9a825", "blue": "#1565c0"}


def heat(db: Session, clock: Clock, principal: Principal, placer: _Placer) -> tuple[list[HeatPoint], int]:
    """Past observations and incidents in scope (a year back), as weights on ~20 m cells; no names, no ids."""
    since = clock.now() - timedelta(days=HEAT_DAYS)
    cells: dict[tuple[int, int], float] = {}
    unplaced = 0

    def add(lon: float, lat: float, weight: float) -> None:
        key = (round(lon / HEAT_CELL), round(lat / HEAT_CELL))
        cells[key] = cells.get(key, 0.0) + weight

    # One row per observation (a JSON position cannot be grouped on PostgreSQL); a year of a campus is small.
    observed = (
        select(Observation.unit_id, Observation.location, Observation.level)
        .join(OrgUnit, OrgUnit.id == Observation.unit_id)
        .where(Observation.filed_at >= since, scope_clause(principal, OrgUnit.path))
    )
    rows = list(db.execute(observed))
    placer.units({row[0] for row in rows})
    for unit_id, location, level in rows:
        where = placer.of_record(unit_id, location)
        if where is None:
            unplaced += 1
            continue
        add(*where, HEAT_WEIGHTS.get(level, 1.0))
    happened = (
        select(Incident.unit_id, Incident.location, Incident.level, func.count())
        .where(Incident.started_at >= since, Incident.drill.is_(False), scope_clause(principal, Incident.unit_path))
        .group_by(Incident.unit_id, Incident.location, Incident.level)
    )
    incidents_rows = list(db.execute(happened))
    placer.units({row[0] for row in incidents_rows})
    for unit_id, text, level, count in incidents_rows:
        where = placer.of_unit(unit_id) or placer.of_text(text)
        if where is None:
            unplaced += count
            continue
        add(*where, (5.0 - level) * count)  # level Ⅰ weighs 4, Ⅳ weighs 1
    return [HeatPoint(lon=kx * HEAT_CELL, lat=ky * HEAT_CELL, weight=w) for (kx, ky), w in sorted(cells.items())], unplaced


def internal_content(
    db: Session, clock: Clock, principal: Principal, *, matrix: RiskMatrix, places: Places, lang: Lang, tz: tzinfo
) -> MapContent:
    """Everything the staff's map shows the caller, in their scope."""
    content = MapContent()
    placer = _Placer(db, places)
    content.hazards, content.unplaced["hazards"], content.unplaced["unassessed"] = map_hazards(db, principal, matrix, lang, tz)
    content.zones = [map_zone(z, lang) for z in zones.zones_in_scope(db, principal)]
    content.incidents, content.unplaced["incidents"] = map_incidents(db, principal, placer, lang)
    content.heat, content.unplaced["heat"] = heat(db, clock, principal, placer)
    return content


def public_zones(db: Session, lang: Lang) -> list[MapZone]:
    """The zones that may be shown to students."""
    return [map_zone(z, lang) for z in zones.public_zones(db)]


def public_tips(db: Session, lang: Lang) -> list[str]:
    """The safety tips of the public zones, then the general ones."""
    tips = [f"{z.name}：{z.tip}" if lang == "zh-CN" else f"{z.name}: {z.tip}" for z in zones.public_zones(db) if z.tip]
    general = (
        ("夜间出行请走有照明的主路，结伴而行。", "At night keep to lit main paths and walk with others."),
        (
            "宿舍内禁止使用大功率电器，电动车不进楼、不私拉电线充电。",
            "No high-power appliances in dorms; never charge e-bikes indoors.",
        ),
        (
            "遇到紧急情况请拨打学校保卫处值班电话或 110、120、119。",
            "In an emergency call the campus security duty line or 110, 120, 119.",
        ),
    )
    return tips + [_pick(lang, zh, en) for zh, en in general]
