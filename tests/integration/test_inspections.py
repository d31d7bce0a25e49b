"""Inspection rounds on the demo campus with a manual clock: opened each morning, walked on a phone, missed once.

The worker comes up before dawn on Monday 1 March 2027, the first day of a month and of ISO week 9; its
06:30 run opens March's round of every dorm, lab and the gym and week 9's of every canteen and gate. The
safety officer of East Block 1 walks his building on his phone and finds e-bikes charging on the third
floor: that item becomes a red hazard on the ledger, drawn at East Block 1. Nobody walks the canteens and
gates: at 00:00 on Saturday 6 March they turn missed and the school safety office is told, once. The
safety officer of East Block 1 never sees West Block 1's round.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from riskcontrol.core.audit import AuditLog
from riskcontrol.core.deadlines import PENDING, Deadline
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards import inspections
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.hazards.inspections import ROUND_DUE, InspectionConfig
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.places import PLACES_FILE, load_places
from riskcontrol.notify.models import Notification
from riskcontrol.settings import PROJECT_ROOT
from tests.integration.conftest import Night
from tests.signin import post_login

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLACES = load_places(PROJECT_ROOT / "risk_map" / PLACES_FILE)
# The demo's places with a checklist: 8 dorm buildings, 3 labs, 2 canteens, the gym and 2 gates.
ROUNDS = 16


def local(text: str) -> datetime:
    """A Shanghai wall-clock time, as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def at(night: Night, moment: datetime) -> None:
    night.clock.set(moment)
    night.worker.run_once()


def opened(night: Night) -> None:
    """The worker comes up before dawn on Monday 1 March; its 06:30 run opens this period's rounds."""
    at(night, local("2027-03-01 06:00"))
    at(night, local("2027-03-01 06:30"))


def headers(night: Night, username: str) -> dict[str, str]:
    return night.token(username)


def round_of(night: Night, place: str, period: str) -> InspectionRound:
    with night.sessions() as db:
        stmt = select(InspectionRound).where(InspectionRound.place_code == place, InspectionRound.period == period)
        found = db.execute(stmt).scalar_one()
        db.expunge(found)
        return found


def checklist(night: Night, kind: str) -> list[str]:
    cfg: InspectionConfig = night.app.state.ctx.extras["inspections"]
    plan = cfg.plan().kind(kind)
    assert plan is not None
    return [item.code for item in plan.items]


def all_ok(night: Night, kind: str, **failed: str) -> list[dict[str, Any]]:
    return [
        {"code": code, "ok": code not in failed, "note": failed.get(code, "")} if code in failed else {"code": code, "ok": True}
        for code in checklist(night, kind)
    ]


def told(night: Night, username: str) -> list[Notification]:
    user_id = night.user(username).id
    with night.sessions() as db:
        stmt = select(Notification).where(Notification.user_id == user_id, Notification.kind == "inspection.missed")
        return list(db.execute(stmt.order_by(Notification.id)).scalars())


def inspection_hazards(night: Night) -> list[Hazard]:
    """The hazards filed by walking rounds (the demo's ledger holds others, some found on inspections before)."""
    with night.sessions() as db:
        stmt = select(Hazard).where(Hazard.origin == "inspection", Hazard.origin_ref.like("round:%"))
        return list(db.execute(stmt.order_by(Hazard.id)).scalars())


def phone(night: Night, username: str) -> TestClient:
    """A phone signed in through the form (the session rides in a cookie)."""
    client = TestClient(night.app)
    reply = post_login(client, username, DEMO_PASSWORD)
    assert reply.status_code == 303, reply.text
    return client


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, name
    return found.group(1)


# --- opening -----------------------------------------------------------------------------------


def test_the_morning_run_opens_a_round_for_every_place_at_its_inspectors_unit(night: Night) -> None:
    opened(night)
    with night.sessions() as db:
        rounds = db.execute(select(InspectionRound).where(InspectionRound.period.in_(["2027-03", "2027-W09"]))).scalars().all()
        units = {u.code: u for u in db.execute(select(OrgUnit).where(OrgUnit.code.in_(["HDU", "E1", "W1"]))).scalars()}
        sweeps = db.execute(select(Deadline).where(Deadline.kind == ROUND_DUE, Deadline.status == PENDING)).scalars().all()
    assert len(rounds) == ROUNDS
    by_place = {r.place_code: r for r in rounds}
    e1, gate = by_place["E1"], by_place["GATE_S"]
    assert (e1.place_kind, e1.unit_id, e1.period, e1.status) == ("dorm", units["E1"].id, "2027-03", "open")
    assert (e1.opens_at, e1.due_at) == (local("2027-03-01 00:00"), local("2027-03-15 00:00"))
    assert (e1.lon, e1.lat) == (PLACES.by_code["E1"].lon, PLACES.by_code["E1"].lat)
    assert by_place["W1"].unit_id == units["W1"].id
    assert (gate.place_kind, gate.unit_id, gate.period, gate.due_at) == (
        "gate",
        units["HDU"].id,
        "2027-W09",
        local("2027-03-06 00:00"),
    )
    assert {r.inspector_role for r in rounds} == {"safety_officer"}
    # One sweep per distinct due time, not one per round.
    assert sorted(d.due_at for d in sweeps if d.due_at >= local("2027-03-01 00:00")) == [
        local("2027-03-06 00:00"),
        local("2027-03-15 00:00"),
    ]
    # A second run the same morning opens nothing more.
    with night.sessions() as db:
        assert inspections.open_rounds(db, night.clock, night.app.state.ctx.extras["inspections"]) == 0
        db.commit()


def test_the_demo_opens_this_periods_rounds_on_schedule_most_walked_some_missed_and_nobody_told(night: Night) -> None:
    # Saturday 28 November, 22:00: the demo (seeded by the fixture) opened November's rounds (due on the
    # 15th) and week 48's (due at midnight) as if on time; most were walked on time, the rest are missed.
    with night.sessions() as db:
        periods = ["2026-11", "2026-W48"]
        rounds = db.execute(select(InspectionRound).where(InspectionRound.period.in_(periods))).scalars().all()
    assert len(rounds) == ROUNDS
    assert {r.status for r in rounds} == {"done", "missed"}
    done = [r for r in rounds if r.status == "done"]
    assert len(done) > len(rounds) // 2
    assert all(r.done_at is not None and r.done_at <= r.due_at and not r.late and r.results for r in done)
    night.worker.run_once()
    assert told(night, "safety") == []
    # Opening again finds nothing missing.
    with night.sessions() as db:
        assert inspections.open_rounds(db, night.clock, night.app.state.ctx.extras["inspections"], on_schedule=True) == 0


# --- walking a round ---------------------------------------------------------------------------


def test_the_e1_safety_officer_walks_his_building_on_his_phone_and_a_failed_item_becomes_a_hazard_there(
    night: Night,
) -> None:
    opened(night)
    night.clock.set(local("2027-03-03 09:10"))
    client = phone(night, "safety_e1")
    listing = client.get("/inspections")
    assert listing.status_code == 200
    e1 = round_of(night, "E1", "2027-03")
    assert f'href="/inspections/{e1.id}"' in listing.text
    assert "东区1号楼" in listing.text
    assert "西区1号楼" not in listing.text
    english = client.get("/inspections", params={"lang": "en"}).text
    assert "East Block 1" in english
    assert "Dormitory safety inspection · 2027-03" in english
    assert "东区1号楼" in client.get("/inspections", params={"lang": "zh-CN"}).text  # and back to Chinese

    page = client.get(f"/inspections/{e1.id}")
    assert page.status_code == 200
    assert "违规电器" in page.text
    assert f'action="/inspections/{e1.id}/complete"' in page.text
    night.clock.set(local("2027-03-03 09:40"))
    form = {"csrf": hidden(page.text, "csrf"), "started_at": hidden(page.text, "started_at"), "note": "整体良好"}
    for code in checklist(night, "dorm"):
        form[f"result.{code}"] = "ok"
    form["result.ebike_charging"] = "failed"
    form["note.ebike_charging"] = "3楼东侧楼道2辆电动车充电"
    form["floor.ebike_charging"] = "3F"
    sent = client.post(f"/inspections/{e1.id}/complete", data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/inspections?done={e1.id}"
    assert "已提交：东区1号楼，1 项不合格已登记为隐患。" in client.get(sent.headers["location"]).text

    [hazard] = inspection_hazards(night)
    assert (hazard.origin, hazard.origin_ref) == ("inspection", f"round:{e1.id}:ebike_charging")
    assert hazard.geometry == {"type": "Point", "coordinates": [PLACES.by_code["E1"].lon, PLACES.by_code["E1"].lat]}
    assert (hazard.place, hazard.building, hazard.floor) == ("E1", "东区1号楼", "3F")
    assert (hazard.title, hazard.description) == ("东区1号楼：电动车进楼入户充电", "3楼东侧楼道2辆电动车充电")
    assert (hazard.category, hazard.likelihood, hazard.impact, hazard.level, hazard.state) == ("fire", 3, 5, "red", "assessed")
    assert (hazard.unit_id, hazard.found_by) == (e1.unit_id, night.user("safety_e1").id)
    done = round_of(night, "E1", "2027-03")
    assert (done.status, done.late, done.inspector_id, done.hazard_ids) == (
        "done",
        False,
        night.user("safety_e1").id,
        [hazard.id],
    )
    assert (done.started_at, done.done_at, done.note) == (local("2027-03-03 09:10"), local("2027-03-03 09:40"), "整体良好")
    assert [r["code"] for r in done.results] == checklist(night, "dorm")
    assert [r for r in done.results if not r["ok"]] == [
        {"code": "ebike_charging", "ok": False, "note": "3楼东侧楼道2辆电动车充电", "floor": "3F", "hazard_id": hazard.id}
    ]
    # The ledger shows it to him, and the round reads back with its results.
    ledger = night.client.get(f"/api/v1/hazards/{hazard.id}", headers=headers(night, "safety_e1"))
    assert (ledger.status_code, ledger.json()["level"]) == (200, "red")
    results = client.get(f"/inspections/{e1.id}")
    assert "已登记隐患 #" in results.text
    assert "insp-form" not in results.text


def test_through_the_api_a_round_is_walked_once_with_its_checklist_and_results(night: Night) -> None:
    opened(night)
    gate = round_of(night, "GATE_N", "2027-W09")
    safety = headers(night, "safety")
    detail = night.client.get(f"/api/v1/inspections/rounds/{gate.id}", headers=safety).json()
    assert (detail["status"], detail["may_complete"], detail["place"]["zh"]) == ("open", True, "北门")
    assert [item["code"] for item in detail["items"]] == checklist(night, "gate")
    body = {"results": all_ok(night, "gate", cctv="东侧2路摄像头黑屏"), "started_at": local("2027-03-01 06:40").isoformat()}
    night.clock.set(local("2027-03-01 07:05"))
    reply = night.client.post(f"/api/v1/inspections/rounds/{gate.id}/complete", json=body, headers=safety)
    assert reply.status_code == 200, reply.text
    done = reply.json()
    assert (done["status"], done["late"], done["failed"], done["inspector_name"]) == ("done", False, 1, night.user("safety").name)
    assert [r["hazard_id"] is not None for r in done["results"]] == [r["code"] == "cctv" for r in done["results"]]
    again = night.client.post(f"/api/v1/inspections/rounds/{gate.id}/complete", json=body, headers=safety)
    assert (again.status_code, again.json()["field"]) == (409, "round_id")
    assert len(inspection_hazards(night)) == 1
    kinds = night.client.get("/api/v1/inspections/checklists", headers=safety).json()
    assert [k["kind"] for k in kinds] == ["dorm", "lab", "canteen", "gym", "gate"]
    assert (kinds[0]["every"], kinds[0]["allow"], kinds[0]["inspector_at"]) == ("month", "14d", "building")


# --- missed ------------------------------------------------------------------------------------


def test_rounds_left_undone_turn_missed_at_their_due_time_and_the_safety_office_is_told_once(night: Night) -> None:
    opened(night)
    e1 = round_of(night, "E1", "2027-03")
    reply = night.client.post(
        f"/api/v1/inspections/rounds/{e1.id}/complete",
        json={"results": all_ok(night, "dorm")},
        headers=headers(night, "safety_e1"),
    )
    assert reply.status_code == 200, reply.text
    at(night, local("2027-03-05 23:59"))
    assert told(night, "safety") == []

    at(night, local("2027-03-06 00:00"))
    at(night, local("2027-03-06 00:01"))  # the worker again: nobody is told twice
    weekly = {"C1", "C2", "GATE_S", "GATE_N"}
    assert {round_of(night, code, "2027-W09").status for code in weekly} == {"missed"}
    assert round_of(night, "W1", "2027-03").status == "open"
    [message] = told(night, "safety")
    assert message.title_zh == "【安全检查】4项安全检查逾期未完成"
    # Due at midnight today: the time alone (a round of another day would carry its date).
    assert "南门 · 校门安全检查（2027-W09，应于 00:00 前）" in message.body_zh
    assert "South Gate · Campus gate safety inspection (2027-W09, due 00:00)" in message.body_en
    assert sorted(message.data["rounds"]) == sorted(round_of(night, code, "2027-W09").id for code in weekly)
    assert told(night, "safety_e1") == told(night, "safety_w1") == []

    at(night, local("2027-03-15 00:00"))
    at(night, local("2027-03-15 00:01"))
    assert round_of(night, "E1", "2027-03").status == "done"
    assert round_of(night, "W1", "2027-03").status == "missed"
    [w1_message] = told(night, "safety_w1")
    assert w1_message.data["rounds"] == [round_of(night, "W1", "2027-03").id]
    assert told(night, "safety_e1") == []
    messages = told(night, "safety")
    assert len(messages) == 2
    assert len(messages[1].data["rounds"]) == 7 + 3 + 1  # the other dorms, the labs and the gym

    # Walked late, a missed round is done late, and the missed report keeps it.
    gate = round_of(night, "GATE_S", "2027-W09")
    safety = headers(night, "safety")
    late = night.client.post(
        f"/api/v1/inspections/rounds/{gate.id}/complete", json={"results": all_ok(night, "gate")}, headers=safety
    )
    assert (late.status_code, late.json()["status"], late.json()["late"]) == (200, "done", True)
    report = night.client.get("/api/v1/inspections/missed", headers=safety).json()
    assert {(r["place"]["code"], r["status"]) for r in report if r["period"] == "2027-W09"} == {
        ("C1", "missed"),
        ("C2", "missed"),
        ("GATE_N", "missed"),
        ("GATE_S", "done"),
    }
    mine = night.client.get("/api/v1/inspections/missed", headers=headers(night, "safety_w1")).json()
    assert [r["place"]["code"] for r in mine if r["period"] == "2027-03"] == ["W1"]
    assert {r["place"]["code"] for r in mine} == {"W1"}  # the building's officer sees his building's rounds only


# --- scope -------------------------------------------------------------------------------------


def test_a_building_safety_officer_sees_and_walks_only_his_building(night: Night) -> None:
    opened(night)
    w1 = round_of(night, "W1", "2027-03")
    e1_officer = headers(night, "safety_e1")
    mine = night.client.get("/api/v1/inspections/rounds", headers=e1_officer).json()
    assert [(r["place"]["code"], r["may_complete"]) for r in mine] == [("E1", True)]
    assert night.client.get(f"/api/v1/inspections/rounds/{w1.id}", headers=e1_officer).status_code == 404
    refused = night.client.post(
        f"/api/v1/inspections/rounds/{w1.id}/complete", json={"results": all_ok(night, "dorm")}, headers=e1_officer
    )
    assert (refused.status_code, refused.json()["field"]) == (404, "round_id")
    e1_phone = phone(night, "safety_e1")
    assert e1_phone.get(f"/inspections/{w1.id}").status_code == 404
    csrf = hidden(e1_phone.get(f"/inspections/{round_of(night, 'E1', '2027-03').id}").text, "csrf")
    form = {"csrf": csrf} | {f"result.{code}": "ok" for code in checklist(night, "dorm")}
    assert e1_phone.post(f"/inspections/{w1.id}/complete", data=form, follow_redirects=False).status_code == 404
    with night.sessions() as db:
        stmt = select(AuditLog.subject_id).where(AuditLog.action == "access.denied", AuditLog.actor == "safety_e1")
        denied = set(db.execute(stmt).scalars())
    assert {"GET /inspections/{round_id}", "POST /inspections/{round_id}/complete"} <= denied
    # The school's safety office sees every round and may walk any; a leader sees them all and walks none.
    school = night.client.get("/api/v1/inspections/rounds", headers=headers(night, "safety")).json()
    assert len(school) == ROUNDS
    assert all(r["may_complete"] for r in school)
    leader = night.client.get("/api/v1/inspections/rounds", params={"kind": "dorm"}, headers=headers(night, "leader")).json()
    assert len(leader) == 8
    assert not any(r["may_complete"] for r in leader)
    forbidden = night.client.post(
        f"/api/v1/inspections/rounds/{w1.id}/complete", json={"results": all_ok(night, "dorm")}, headers=headers(night, "leader")
    )
    assert forbidden.status_code == 403
    assert night.client.get("/api/v1/inspections/rounds", headers=headers(night, "counselor_cs")).json() == []
    assert round_of(night, "W1", "2027-03").status == "open"


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda results: results[:-1], "results"),
        (lambda results: [{**results[0], "ok": False}, *results[1:]], "results.0.note"),
        (lambda results: [{**results[0], "ok": "yes"}, *results[1:]], "results.0.ok"),
        (lambda results: [{**results[0], "colour": "red"}, *results[1:]], "results.0.colour"),
        (lambda results: [{**results[0], "code": "gas_alarm"}, *results[1:]], "results.0.code"),
        (lambda results: [*results, {"code": "banned_appliances", "ok": False, "note": "热得快"}], "results.9.code"),
        (lambda results: [{**results[0], "ok": False, "note": "热得快\x00"}, *results[1:]], "results.0.note"),
    ],
)
def test_a_bad_walk_is_refused_naming_the_field_and_nothing_is_saved(night: Night, change: Any, field: str) -> None:
    opened(night)
    e1 = round_of(night, "E1", "2027-03")
    results = all_ok(night, "dorm", ebike_charging="3楼楼道电动车充电")
    reply = night.client.post(
        f"/api/v1/inspections/rounds/{e1.id}/complete", json={"results": change(results)}, headers=headers(night, "safety_e1")
    )
    assert (reply.status_code, reply.json()["field"]) == (422, field), reply.text
    assert round_of(night, "E1", "2027-03").status == "open"
    assert inspection_hazards(night) == []


def test_a_walk_said_to_start_in_the_future_is_refused_and_nothing_is_saved(night: Night) -> None:
    opened(night)
    e1 = round_of(night, "E1", "2027-03")
    body = {"results": all_ok(night, "dorm", ebike_charging="电动车充电"), "started_at": local("2027-03-01 08:00").isoformat()}
    reply = night.client.post(f"/api/v1/inspections/rounds/{e1.id}/complete", json=body, headers=headers(night, "safety_e1"))
    assert (reply.status_code, reply.json()["field"]) == (422, "started_at")
    assert inspection_hazards(night) == []
    bad_query = night.client.get("/api/v1/inspections/rounds", params={"status": "late"}, headers=headers(night, "safety"))
    assert (bad_query.status_code, bad_query.json()["field"]) == (422, "status")


def test_the_form_sent_with_items_unticked_comes_back_with_every_tick_kept_and_the_items_named(night: Night) -> None:
    opened(night)
    e1 = round_of(night, "E1", "2027-03")
    client = phone(night, "safety_e1")
    page = client.get(f"/inspections/{e1.id}")
    form = {"csrf": hidden(page.text, "csrf"), "started_at": hidden(page.text, "started_at")}
    form |= {f"result.{code}": "ok" for code in checklist(night, "dorm")[:-1]}
    form |= {"result.open_flame": "failed", "note.open_flame": "302室有蜡烛"}
    reply = client.post(f"/inspections/{e1.id}/complete", data=form, follow_redirects=False)
    assert reply.status_code == 422
    assert "还有 1 项没有勾选：宿舍门禁失效或外来人员留宿" in reply.text
    assert 'value="failed" checked' in reply.text
    assert "302室有蜡烛" in reply.text
    silent = form | {"result.dorm_access": "ok", "note.open_flame": " "}
    reply = client.post(f"/inspections/{e1.id}/complete", data=silent, follow_redirects=False)
    assert reply.status_code == 422
    assert "“室内使用明火或吸烟”不合格，请写明发现的问题。" in reply.text
    forged = client.post(f"/inspections/{e1.id}/complete", data=silent | {"csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    assert round_of(night, "E1", "2027-03").status == "open"
    assert inspection_hazards(night) == []
