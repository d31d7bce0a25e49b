"""Times and dates at the edge of the calendar: every endpoint that takes one answers 422 naming the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core.clock import ManualClock
from riskcontrol.core.instants import OUT_OF_RANGE
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.models import metadata
from riskcontrol.reviews.models import ReviewMeeting
from tests import factories as f
from tests.conftest import START

EDGE_TIMES = (
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
)
EDGE_DAYS = ("0001-01-01", "9999-12-31", "1969-12-31", "3000-01-01")
# What every other time and date of a request is: now, and a day a month ahead.
VALID_TIME = START.isoformat()
VALID_DAY = (START + timedelta(days=30)).date().isoformat()

# Every time or date an endpoint took when this test was written: the schema may add to these, never lose one.
KNOWN = {
    ("POST", "/api/v1/key-concerns", "review_on"),
    ("PATCH", "/api/v1/key-concerns/{key_concern_id}", "review_on"),
    ("POST", "/api/v1/key-concerns/{key_concern_id}/talks", "talked_at"),
    ("POST", "/api/v1/observations", "observed_at"),
    ("POST", "/api/v1/opinion/reports", "discovered_at"),
    ("POST", "/api/v1/hazards", "found_at"),
    ("POST", "/api/v1/hazards/{hazard_id}/assign", "deadline"),
    ("POST", "/api/v1/hazards/{hazard_id}/reopen", "deadline"),
    ("GET", "/api/v1/inspections/missed", "since"),
    ("POST", "/api/v1/inspections/rounds/{round_id}/complete", "started_at"),
    ("POST", "/api/v1/incidents", "started_at"),
    ("PUT", "/api/v1/reviews/{review_id}/schedule", "scheduled_for"),
    ("POST", "/api/v1/reviews/{review_id}/held", "held_at"),
    ("POST", "/api/v1/incidents/{incident_id}/actions", "due_at"),
    ("POST", "/api/v1/incidents/{incident_id}/actions", "new_hazard.found_at"),
    ("GET", "/api/v1/roster", "from"),
    ("POST", "/api/v1/roster/shifts", "starts_at"),
    ("POST", "/api/v1/roster/shifts", "ends_at"),
}
FORMATS = ("date", "date-time")


# The endpoints are read from the app's OpenAPI schema, so one added later is checked too; each request is
# built from its schema (required fields, real rows for ids) so that the edge value is its only fault.


@dataclass(frozen=True)
class Slot:
    """One time or date an operation takes: a query parameter, or a field (maybe nested) of its JSON body."""

    method: str
    path: str
    where: str
    names: tuple[str, ...]
    format: str
    body: dict[str, Any] | None

    @property
    def field(self) -> str:
        """The field as a 422 names it."""
        return ".".join(self.names)

    @property
    def edges(self) -> tuple[str, ...]:
        return EDGE_DAYS if self.format == "date" else EDGE_TIMES


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _dated(spec: dict[str, Any], schema: dict[str, Any], seen: frozenset[str] = frozenset()) -> list[tuple[tuple[str, ...], str]]:
    """Where in `schema` a date or a time sits: (names down to it, its format)."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return []
        return _dated(spec, _resolve(spec, schema), seen | {schema["$ref"]})
    if schema.get("format") in FORMATS:
        return [((), schema["format"])]
    found = [hit for branch in schema.get("anyOf", []) + schema.get("oneOf", []) for hit in _dated(spec, branch, seen)]
    for name, sub in schema.get("properties", {}).items():
        found += [((name, *names), fmt) for names, fmt in _dated(spec, sub, seen)]
    if "items" in schema:
        found += [(("0", *names), fmt) for names, fmt in _dated(spec, schema["items"], seen)]
    return list(dict.fromkeys(found))


def slots(spec: dict[str, Any]) -> list[Slot]:
    """Every query parameter and JSON body field of every operation that is a date or a time."""
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                for _names, fmt in _dated(spec, parameter.get("schema", {})):
                    found.append(Slot(method.upper(), path, parameter["in"], (parameter["name"],), fmt, None))
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            for names, fmt in _dated(spec, body) if body else []:
                found.append(Slot(method.upper(), path, "body", names, fmt, _resolve(spec, body)))
    return found


@dataclass
class Ids:
    """The rows the requests refer to, so that each is valid but for its date."""

    user: int
    school: int
    student: int
    paths: dict[str, int]


def _text(schema: dict[str, Any]) -> str:
    """The first of a few plain words that the schema's pattern and lengths accept."""
    for candidate in ("edge-dates-0001", "safety", "x"):
        long_enough = schema.get("minLength", 0) <= len(candidate) <= schema.get("maxLength", 10_000)
        if long_enough and re.search(schema.get("pattern", ""), candidate):
            return candidate
    raise AssertionError(f"no plain word fits {schema}: give this field a value in _hints")


def _hints(ids: Ids) -> dict[str, object]:
    return {
        "unit_id": ids.school,
        "owner_unit_id": ids.school,
        "student_id": ids.student,
        "user_id": ids.user,
        "owner_user_id": ids.user,
        "category": "fire",
        "type": "missing_student",
        "platforms": ["weibo"],
    }


def value_of(spec: dict[str, Any], schema: dict[str, Any], ids: Ids, name: str, target: tuple[str, ...] | None, edge: str) -> Any:
    """A valid value for `schema`, with `edge` put at `target` (names below it) when that is given."""
    schema = _resolve(spec, schema)
    if target == ():
        return edge
    branches = [b for b in schema.get("anyOf", []) + schema.get("oneOf", []) if _resolve(spec, b).get("type") != "null"]
    if branches:
        wanted = [b for b in branches if target is None or any(n[: len(target)] == target for n, _ in _dated(spec, b))]
        return value_of(spec, wanted[0], ids, name, target, edge)
    hints = _hints(ids)
    if "properties" in schema:
        required = set(schema.get("required", ()))
        return {
            key: value_of(spec, sub, ids, key, target[1:] if target and target[0] == key else None, edge)
            for key, sub in schema["properties"].items()
            if key in required or (target and target[0] == key)
        }
    if schema.get("type") == "array":
        if target is None and name in hints:
            return hints[name]
        count = max(schema.get("minItems", 0), 1 if target else 0)
        inner = target[1:] if target else None
        return [value_of(spec, schema["items"], ids, name, inner if i == 0 else None, edge) for i in range(count)]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "date-time":
        return VALID_TIME
    if schema.get("format") == "date":
        return VALID_DAY
    if name in hints and schema.get("type") in ("string", "integer"):
        return hints[name]
    if schema.get("type") == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if schema.get("type") == "number":
        return schema.get("minimum", 1)
    if schema.get("type") == "boolean":
        return False
    return _text(schema)


def request(client: TestClient, spec: dict[str, Any], slot: Slot, ids: Ids, value: str, headers: dict[str, str]) -> Any:
    """Send the operation of `slot` with `value` in that slot and everything else valid."""

    def in_path(name: str) -> str:
        return value if (slot.where, slot.names) == ("path", (name,)) else str(ids.paths.get(name, 1))

    url = re.sub(r"\{(\w+)\}", lambda m: in_path(m.group(1)), slot.path)
    params = {slot.names[0]: value} if slot.where == "query" else None
    body = value_of(spec, slot.body, ids, "", slot.names, value) if slot.body is not None else None
    return client.request(slot.method, url, params=params, json=body, headers=headers)


def row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as db:
        return {table.name: db.execute(select(func.count()).select_from(table)).scalar_one() for table in metadata.sorted_tables}


def a_campus_with_one_of_everything(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> tuple[Ids, dict[str, str]]:
    """A small campus, a user with broad roles, and a hazard, an incident, a key concern, a review and a round."""
    with sessions() as db:
        campus = f.build_campus(db)
        school, cls = campus["S"], campus["C1K1"]
        user = f.user(
            db,
            "affairs",
            ("student_affairs", school),
            ("admin", school),
            ("safety_officer", school),
            ("response_team", school),
            ("counselor", cls),
        )
        db.commit()
        ids = Ids(user=user.id, school=school.id, student=campus.students["C1K1R1"].id, paths={})
        school_path = school.path
    headers = f.bearer(client, "affairs")
    assessed = {"title": "消防门坏了", "category": "fire", "unit_id": ids.school, "likelihood": 3, "impact": 3}
    hazard = client.post("/api/v1/hazards", headers=headers, json=assessed)
    incident = client.post(
        "/api/v1/incidents",
        headers=headers,
        json={"type": "missing_student", "level": "II", "title": "学生失联", "unit_id": ids.school},
    )
    concern = client.post(
        "/api/v1/key-concerns",
        headers=headers,
        json={"student_id": ids.student, "level": "yellow", "reason_codes": ["eating_sleeping_change"], "reasons": "近来失眠"},
    )
    for reply in (hazard, incident, concern):
        assert reply.status_code == 201, reply.text
    now = clock.now()
    with sessions() as db:
        review = ReviewMeeting(
            incident_id=incident.json()["id"],
            unit_path=school_path,
            level=2,
            closed_at=now,
            due_at=now + timedelta(days=30),
            status="due",
            created_at=now,
        )
        walk = InspectionRound(
            place_code="E1",
            place_kind="dorm",
            unit_id=ids.school,
            unit_path=school_path,
            inspector_role="safety_officer",
            period="2026-11",
            opens_at=now - timedelta(days=1),
            due_at=now + timedelta(days=2),
            status="open",
            lon=116.3561,
            lat=40.0031,
        )
        db.add_all([review, walk])
        db.commit()
        ids.paths = {
            "hazard_id": hazard.json()["id"],
            "incident_id": incident.json()["id"],
            "key_concern_id": concern.json()["id"],
            "review_id": review.id,
            "round_id": walk.id,
        }
    return ids, headers


def test_every_time_or_date_at_the_edge_of_the_calendar_is_a_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    spec = client.get("/openapi.json").json()
    found = slots(spec)
    assert {(s.method, s.path, s.field) for s in found} >= KNOWN
    assert len(found) >= len(KNOWN)
    ids, headers = a_campus_with_one_of_everything(client, sessions, clock)
    before = row_counts(sessions)
    english = {**headers, "Accept-Language": "en"}  # the reason compared is the catalogue's English one

    for slot in found:
        for edge in slot.edges:
            reply = request(client, spec, slot, ids, edge, english)
            where = f"{slot.method} {slot.path} {slot.field}={edge}"
            assert reply.status_code == 422, (where, reply.text)
            body = reply.json()
            assert body["field"] == slot.field, (where, body)
            # The date is the only fault, and the reason says which years are accepted.
            assert body["errors"] == [{"field": slot.field, "reason": OUT_OF_RANGE}], (where, body)

    assert row_counts(sessions) == before

    # The same requests with an ordinary date pass validation (what the domain then says is its own matter).
    for slot in found:
        reply = request(client, spec, slot, ids, VALID_DAY if slot.format == "date" else VALID_TIME, headers)
        refused_as_malformed = reply.status_code == 422 and "errors" in reply.json()
        assert not refused_as_malformed, (slot, reply.text)


LEDGER = "title,category,unit,found_at,likelihood,impact,owner_unit,owner_user,measures,deadline,funds,contingency_plan\n"


@pytest.mark.parametrize(
    ("found_at", "deadline"),
    [
        ("0001-01-01", "2026-12-10"),
        ("0001-01-01T00:00:00+00:01", "2026-12-10"),
        ("2026-11-27", "9999-12-31T23:59:59-14:00"),
        ("2026-11-27", "9999-12-31"),
    ],
)
def test_a_ledger_row_with_an_edge_date_is_refused_naming_the_column_and_nothing_is_imported(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock, found_at: str, deadline: str
) -> None:
    _ids, headers = a_campus_with_one_of_everything(client, sessions, clock)
    before = row_counts(sessions)
    row = f"走廊堆放杂物,fire,S,{found_at},3,3,S,affairs,清理杂物,{deadline},后勤维修费,按宿舍消防预案\n"
    reply = client.post("/api/v1/hazards/import", headers=headers | {"Content-Type": "text/csv"}, content=(LEDGER + row).encode())
    assert reply.status_code == 422, reply.text
    column = "found_at" if found_at.startswith("0001") else "deadline"
    assert reply.json()["errors"] == [{"line": 2, "column": column, "reason": OUT_OF_RANGE}]
    assert row_counts(sessions) == before
