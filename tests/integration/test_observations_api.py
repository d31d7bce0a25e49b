"""Filing observations through the API: exactly once per client id, scope, and bad input refused whole."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskcontrol.core.clock import ManualClock
from riskcontrol.escalation.models import Escalation
from riskcontrol.observations.models import Observation
from tests import factories as f
from tests.unit.test_images import png_bomb

PNG_1PX = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def seed(db: Session) -> f.Campus:
    campus = f.build_campus(db)
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R1"]))
    f.user(db, "counselor", ("counselor", campus["C1K1"]))
    f.user(db, "leader", ("leader", campus["S"]))
    db.commit()
    return campus


def body(campus: f.Campus, clock: ManualClock, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "client_id": "phone-0001-abcd",
        "unit_id": campus["C1K1R1"].id,
        "student_id": campus.students["C1K1R1"].id,
        "checklist": ["long_isolation", "eating_sleeping_change"],
        "note": "最近一周都没去上课",
        "observed_at": clock.now().isoformat(),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def count(db: Session) -> tuple[int, int]:
    db.rollback()  # a fresh read: see what the app committed
    return (
        db.execute(select(func.count()).select_from(Observation)).scalar_one(),
        db.execute(select(func.count()).select_from(Escalation)).scalar_one(),
    )


def test_a_retried_filing_is_stored_once_and_answers_the_same(client: TestClient, db: Session, clock: ManualClock) -> None:
    campus = seed(db)
    headers = f.bearer(client, "dorm_head")
    first = client.post("/api/v1/observations", json=body(campus, clock), headers=headers)
    again = client.post("/api/v1/observations", json=body(campus, clock), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["level"] == "yellow"
    assert first.json()["escalation_id"] is not None
    assert count(db) == (1, 1)


def test_a_note_with_nothing_ticked_is_blue_and_starts_no_live_climb(client: TestClient, db: Session, clock: ManualClock) -> None:
    campus = seed(db)
    reply = client.post("/api/v1/observations", json=body(campus, clock, checklist=[]), headers=f.bearer(client, "dorm_head"))
    assert reply.status_code == 201
    assert (reply.json()["level"], reply.json()["escalation_id"]) == ("blue", None)


def test_a_photo_is_kept_when_it_is_an_image(client: TestClient, db: Session, clock: ManualClock) -> None:
    campus = seed(db)
    photo = {"filename": "x.png", "data_base64": base64.b64encode(PNG_1PX).decode()}
    reply = client.post("/api/v1/observations", json=body(campus, clock, photo=photo), headers=f.bearer(client, "dorm_head"))
    assert reply.status_code == 201
    shown = client.get(f"/api/v1/observations/{reply.json()['id']}", headers=f.bearer(client, "counselor")).json()
    assert shown["has_photo"] is True


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"checklist": ["long_isolation", "flying_saucer"]}, 422, "checklist"),
        ({"student_id": "other-college"}, 404, "student_id"),
        ({"unit_id": "other-college"}, 403, "unit_id"),
        (
            {"photo": {"filename": "x.png", "data_base64": base64.b64encode(b"%PDF-1.4 not an image").decode()}},
            422,
            "photo.data_base64",
        ),
        ({"photo": {"filename": "x.png", "data_base64": "!!!not base64!!!"}}, 422, "photo.data_base64"),
        # A PNG header, then a page: stored and served before as image/png.
        (
            {
                "photo": {
                    "filename": "x.png",
                    "data_base64": base64.b64encode(PNG_1PX[:33] + b"<html><script>x</script>").decode(),
                }
            },
            422,
            "photo.data_base64",
        ),
        # 60000 × 60000 declared in a few bytes: a decompression bomb.
        (
            {"photo": {"filename": "x.png", "data_base64": base64.b64encode(png_bomb(60000, 60000)).decode()}},
            422,
            "photo.data_base64",
        ),
        ({"client_id": ...}, 422, "client_id"),
        ({"observed_at": ...}, 422, "observed_at"),
        ({"observed_at": "2026-11-28T22:00:00"}, 422, "observed_at"),
        ({"observed_at": "2027-01-01T00:00:00+08:00"}, 422, "observed_at"),
        ({"checklist": "suicide_plan"}, 422, "checklist"),
        ({"unit_id": "12"}, 422, "unit_id"),
        ({"note": "x" * 4001}, 422, "note"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    client: TestClient, db: Session, clock: ManualClock, changes: dict[str, Any], status: int, field: str
) -> None:
    campus = seed(db)
    if changes.get("student_id") == "other-college":
        changes["student_id"] = campus.students["C2K1R1"].id
    if changes.get("unit_id") == "other-college":
        changes["unit_id"] = campus["C2K1R1"].id
    reply = client.post("/api/v1/observations", json=body(campus, clock, **changes), headers=f.bearer(client, "dorm_head"))
    assert (reply.status_code, reply.json()["field"]) == (status, field), reply.text
    assert count(db) == (0, 0)


def test_malformed_json_is_a_4xx_and_stores_nothing(client: TestClient, db: Session) -> None:
    seed(db)
    headers = {**f.bearer(client, "dorm_head"), "Content-Type": "application/json"}
    reply = client.post("/api/v1/observations", content=b'{"client_id": "phone-0001-abcd", ', headers=headers)
    assert reply.status_code in (400, 422)
    assert reply.json()["field"]
    assert count(db) == (0, 0)


def test_a_student_in_scope_but_not_under_the_chosen_unit_is_refused(client: TestClient, db: Session, clock: ManualClock) -> None:
    campus = seed(db)
    reply = client.post(
        "/api/v1/observations",
        json=body(campus, clock, unit_id=campus["C1K1R2"].id),
        headers=f.bearer(client, "counselor"),
    )
    assert (reply.status_code, reply.json()["field"]) == (422, "student_id")


def test_observations_are_listed_within_scope_only(client: TestClient, db: Session, clock: ManualClock) -> None:
    campus = seed(db)
    client.post("/api/v1/observations", json=body(campus, clock), headers=f.bearer(client, "dorm_head"))
    f.user(db, "officer2", ("college_officer", campus["C2"]))
    db.commit()
    assert len(client.get("/api/v1/observations", headers=f.bearer(client, "counselor")).json()) == 1
    assert client.get("/api/v1/observations", headers=f.bearer(client, "officer2")).json() == []


def test_a_counselor_raises_the_level_with_a_reason_and_a_new_climb_starts(
    client: TestClient, db: Session, clock: ManualClock
) -> None:
    campus = seed(db)
    filed = client.post("/api/v1/observations", json=body(campus, clock), headers=f.bearer(client, "dorm_head")).json()
    counselor = f.bearer(client, "counselor")
    no_reason = client.post(f"/api/v1/observations/{filed['id']}/level", json={"level": "red", "reason": ""}, headers=counselor)
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    raised = client.post(
        f"/api/v1/observations/{filed['id']}/level", json={"level": "red", "reason": "谈话中透露了具体计划"}, headers=counselor
    )
    assert raised.status_code == 200
    assert (raised.json()["level"], raised.json()["suggested_level"]) == ("red", "yellow")
    assert raised.json()["escalation_id"] != filed["escalation_id"]
    dorm_head = client.post(
        f"/api/v1/observations/{filed['id']}/level",
        json={"level": "blue", "reason": "没事了"},
        headers=f.bearer(client, "dorm_head"),
    )
    assert dorm_head.status_code == 403
