"""The ledger in and out of spreadsheets: CSV (UTF-8 or GBK) or .xlsx, all rows or none, and an export
that imports again.

A row is a hazard as the safety office keeps it in Excel. `title`, `category` and `unit` (a grid unit
code in the importer's scope) are required; likelihood and impact assess it; the five fixes (owner
unit and person, measures, deadline, funds, contingency plan) assign it, all five or none. A past
deadline is taken as it stands: the hazard turns overdue at once and the people concerned are told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Final, Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import csvimport, refusals
from riskcontrol.core.clock import Clock
from riskcontrol.core.csvimport import ErrorCollector, Row, RowError
from riskcontrol.core.errors import InvalidInput
from riskcontrol.core.instants import OutOfRange, in_range
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards import service
from riskcontrol.hazards.geometry import geometry_of
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.schemas import AssignIn, HazardIn, PointIn
from riskcontrol.hazards.service import HazardConfig
from riskcontrol.people.models import User

REQUIRED: Final = ("title", "category", "unit")
FIXES: Final = ("owner_unit", "owner_user", "measures", "deadline", "funds", "contingency_plan")
OPTIONAL: Final = (
    "description",
    "building",
    "floor",
    "place",
    "lon",
    "lat",
    "likelihood",
    "impact",
    "owner_department",
    *FIXES,
    "found_at",
)
EXPORT_EXTRA: Final = ("id", "state", "level", "overdue", "supervised")
MAX_ROWS: Final = 5000


@dataclass
class ImportResult:
    ids: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Planned:
    row: Row
    hazard: HazardIn
    fixes: AssignIn | None


def _when(text: str, cfg: HazardConfig) -> datetime:
    """A date (the end of that day, school time) or a date and time (school time unless it says otherwise)."""
    text = text.strip().replace("/", "-")
    if len(text) == 10:
        day = datetime.fromisoformat(text).date()
        return in_range(datetime.combine(day, time(23, 59), cfg.tz))
    at = datetime.fromisoformat(text)
    return in_range(at if at.tzinfo is not None else at.replace(tzinfo=cfg.tz))


def _when_error(text: str, exc: ValueError) -> str:
    """Why a date cell was refused: outside the supported years, or not a date at all."""
    return str(exc) if isinstance(exc, OutOfRange) else f"{text!r} is not a date (YYYY-MM-DD) or a date and time"


def _plan_row(
    db: Session,
    cfg: HazardConfig,
    principal: Principal,
    row: Row,
    errors: ErrorCollector,
    units: dict[str, OrgUnit | None],
    users: dict[str, User | None],
    now: datetime,
) -> _Planned | None:
    before = len(errors)

    def cell(name: str) -> str:
        return row.get(name) or ""

    def unit(name: str) -> OrgUnit | None:
        code = cell(name)
        if code not in units:
            units[code] = db.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one_or_none()
        found = units[code]
        if found is None or not principal.covers(found.path):
            errors.add(row.line, name, f"no unit with code {code!r} in your scope")
            return None
        return found

    def number(name: str, kind: type[int] | type[float]) -> Any:
        text = cell(name)
        if not text:
            return None
        try:
            return kind(text)
        except ValueError:
            errors.add(row.line, name, f"{text!r} is not a {'whole number' if kind is int else 'number'}")
            return None

    owning = unit("unit") if cell("unit") else None
    if not cell("unit"):
        errors.add(row.line, "unit", "must not be empty")
    if cfg.matrix().category(cell("category")) is None:
        errors.add(
            row.line,
            "category",
            f"unknown category {cell('category')!r}; known: {', '.join(c.code for c in cfg.matrix().categories)}",
        )
    lon, lat = number("lon", float), number("lat", float)
    if (lon is None) != (lat is None):
        errors.add(row.line, "lat" if lat is None else "lon", "lon and lat are given together")
    likelihood, impact = number("likelihood", int), number("impact", int)
    if (likelihood is None) != (impact is None):
        errors.add(row.line, "impact" if impact is None else "likelihood", "likelihood and impact are given together")
    found_at = None
    if cell("found_at"):
        try:
            found_at = _when(cell("found_at"), cfg)
        except ValueError as exc:
            errors.add(row.line, "found_at", _when_error(cell("found_at"), exc))
    hazard: HazardIn | None = None
    if len(errors) == before and owning is not None:
        try:
            hazard = HazardIn.model_validate(
                {
                    "title": cell("title"),
                    "category": cell("category"),
                    "description": cell("description"),
                    "unit_id": owning.id,
                    "place": cell("place"),
                    "building": cell("building"),
                    "floor": cell("floor"),
                    "location": {"type": "Point", "coordinates": (lon, lat)} if lon is not None else None,
                    "likelihood": likelihood,
                    "impact": impact,
                    "found_at": found_at,
                }
            )
            if isinstance(hazard.location, PointIn):
                geometry_of(hazard.location)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else csvimport.WHOLE_LINE
                column = {"unit_id": "unit", "location": "lon"}.get(name, name)
                errors.add(row.line, column, refusals.reason(error))
        except InvalidInput as exc:
            errors.add(row.line, "lon", exc.phrase)
    fixes: AssignIn | None = None
    given = [name for name in FIXES if cell(name)]
    if given:
        missing = [name for name in FIXES if not cell(name)]
        if missing:
            errors.add(row.line, missing[0], f"the five fixes (五定) come together: also fill {', '.join(missing)}")
        elif likelihood is None:
            errors.add(row.line, "likelihood", "an assigned hazard is assessed first: give likelihood and impact")
        else:
            owner_unit = unit("owner_unit")
            name = cell("owner_user")
            if name not in users:
                users[name] = db.execute(select(User).where(User.username == name)).scalar_one_or_none()
            owner = users[name]
            if owner is None or not owner.active:
                errors.add(row.line, "owner_user", f"no active user {name!r}")
            deadline = None
            try:
                deadline = _when(cell("deadline"), cfg)
            except ValueError as exc:
                errors.add(row.line, "deadline", _when_error(cell("deadline"), exc))
            if owner_unit is not None and owner is not None and deadline is not None and len(errors) == before:
                try:
                    fixes = AssignIn.model_validate(
                        {
                            "owner_unit_id": owner_unit.id,
                            "owner_user_id": owner.id,
                            "owner_department": cell("owner_department"),
                            "measures": cell("measures"),
                            "deadline": deadline,
                            "funds": cell("funds"),
                            "contingency_plan": cell("contingency_plan"),
                        }
                    )
                except ValidationError as exc:
                    for error in exc.errors():
                        column = str(error["loc"][0]) if error["loc"] else csvimport.WHOLE_LINE
                        errors.add(row.line, column, refusals.reason(error))
    if found_at is not None and found_at > now + timedelta(minutes=5):
        errors.add(row.line, "found_at", "is in the future")
    if len(errors) != before or hazard is None:
        return None
    return _Planned(row, hazard, fixes)


def import_ledger(db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, data: bytes) -> ImportResult:
    """Check every row, then write them all when none is bad; otherwise write nothing and list each problem."""
    service.require_manager(principal)
    errors = ErrorCollector()
    read = csvimport.read_workbook_rows if csvimport.is_workbook(data) else csvimport.read_rows
    rows = read(data, required=REQUIRED, optional=OPTIONAL, errors=errors)
    if len(rows) > MAX_ROWS:
        errors.add(rows[MAX_ROWS].line, csvimport.WHOLE_LINE, f"at most {MAX_ROWS} hazards per import")
    if not rows and not errors:
        errors.add(1, csvimport.WHOLE_LINE, "the file holds a header but no hazards")
    units: dict[str, OrgUnit | None] = {}
    users: dict[str, User | None] = {}
    now = clock.now()
    planned = [p for row in rows[:MAX_ROWS] if (p := _plan_row(db, cfg, principal, row, errors, units, users, now)) is not None]
    if errors:
        return ImportResult(errors=errors.by_line())
    result = ImportResult()
    for plan in planned:
        hazard = service.create_hazard(
            db, clock, cfg, principal, plan.hazard, origin="import", origin_ref=f"line {plan.row.line}"
        )
        if plan.fixes is not None:
            service.assign_fixes(db, clock, cfg, principal, hazard, plan.fixes, allow_past=True)
        result.ids.append(hazard.id)
    return result


def _rows_out(db: Session, cfg: HazardConfig, principal: Principal) -> list[list[str]]:
    hazards = list(db.execute(service.in_scope(principal).order_by(Hazard.id)).scalars())
    unit_ids = {h.unit_id for h in hazards}
    codes = {r.id: r.code for r in db.execute(select(OrgUnit.id, OrgUnit.code).where(OrgUnit.id.in_(unit_ids)))}
    user_ids = {h.owner_user_id for h in hazards if h.owner_user_id is not None}
    names = {r.id: r.username for r in db.execute(select(User.id, User.username).where(User.id.in_(user_ids)))}

    def local(at: datetime | None) -> str:
        return at.astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M") if at is not None else ""

    out = []
    for h in hazards:
        assigned = h.deadline is not None and h.owner_user_id is not None
        values = {
            "id": str(h.id),
            "state": h.state,
            "level": h.level or "",
            "overdue": "yes" if h.overdue else "",
            "supervised": "yes" if h.supervised else "",
            "title": h.title,
            "category": h.category,
            "unit": codes.get(h.unit_id, ""),
            "description": h.description,
            "building": h.building,
            "floor": h.floor,
            "place": h.place,
            "lon": "" if h.lon is None else f"{h.lon:.7f}",
            "lat": "" if h.lat is None else f"{h.lat:.7f}",
            "likelihood": str(h.likelihood or ""),
            "impact": str(h.impact or ""),
            "owner_department": h.owner_department,
            "owner_unit": codes.get(h.unit_id, "") if assigned else "",
            "owner_user": names.get(h.owner_user_id, "") if h.owner_user_id is not None else "",
            "measures": h.measures,
            "deadline": local(h.deadline),
            "funds": h.funds,
            "contingency_plan": h.contingency_plan,
            "found_at": local(h.found_at),
        }
        out.append([values[name] for name in COLUMNS])
    return out


COLUMNS: Final = (*EXPORT_EXTRA, *REQUIRED, *OPTIONAL)


def export(db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, fmt: Literal["csv", "xlsx"]) -> bytes:
    """The ledger in the caller's scope; the export is audited (it carries names of owners)."""
    rows = _rows_out(db, cfg, principal)
    service.audit_read(db, clock, principal, "hazard.export", count=len(rows), format=fmt)
    if fmt == "csv":
        return csvimport.write_csv(COLUMNS, rows)
    return csvimport.write_workbook("隐患台账", COLUMNS, rows)
