"""What the risk map draws for whom, on the demo campus: hazards, zones, open incidents and the heat of past
warnings inside the caller's scope, placed by their own coordinates, their building or a named place; students
get the public map; nothing personal reaches the heat layer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards.places import load_places
from riskcontrol.people.auth import load_principal
from riskcontrol.riskmap import service
from riskcontrol.settings import PROJECT_ROOT
from tests.integration.conftest import Night, file_red_observation

PLACES = load_places(PROJECT_ROOT / "risk_map" / "places.yaml")


def principal(night: Night, username: str) -> Principal:
    token = night.token(username)["Authorization"].removeprefix("Bearer ")
    with night.sessions() as db:
        found = load_principal(db, night.clock, token)
    assert found is not None
    return found


def content(night: Night, username: str) -> service.MapContent:
    cfg = night.app.state.ctx.extras["hazards"]
    with night.sessions() as db:
        return service.internal_content(
            db, night.clock, principal(night, username), matrix=cfg.matrix(), places=PLACES, lang="zh-CN", tz=cfg.tz
        )


def near(point: tuple[float, float], place: str, tolerance: float = 0.0003) -> bool:
    target = PLACES.by_code[place]
    return abs(point[0] - target.lon) <= tolerance and abs(point[1] - target.lat) <= tolerance


def test_the_staff_map_draws_what_the_caller_may_see(night: Night) -> None:
    # A red observation in room E1-101 (building E1) and an incident "at 东区1号楼" opened by hand.
    file_red_observation(night)
    with night.sessions() as db:
        cls = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
    opened = night.client.post(
        "/api/v1/incidents",
        headers=night.token("response1"),
        json={"type": "fire", "level": "III", "title": "宿舍楼冒烟", "unit_id": cls.id, "location": "东区1号楼三层"},
    )
    assert opened.status_code == 201, opened.text

    school = content(night, "safety")
    assert len(school.hazards) >= 15  # the demo ledger's open hazards, all placed
    assert (school.unplaced["hazards"], school.unplaced["unassessed"]) == (0, 2)  # two demo reports await assessment
    assert {z.name for z in school.zones} >= {"西区湖边小路（夜间）", "实验楼危化品库"}
    assert any(h.overdue and h.level == "red" for h in school.hazards)
    incident = next(i for i in school.incidents if i.title == "宿舍楼冒烟")
    assert near((incident.lon, incident.lat), "E1")
    assert incident.level_numeral == "Ⅲ"
    # The heat: the observation is counted at its building, weighted as red; cells carry numbers only.
    assert any(near((p.lon, p.lat), "E1") and p.weight >= 3 for p in school.heat)
    assert all(set(vars(p)) == {"lon", "lat", "weight"} for p in school.heat)

    # Another college's officer sees none of it: no CS incident, no CS heat, no school-wide hazards.
    other = content(night, "officer_me")
    assert other.incidents == []
    assert other.heat == []
    assert other.zones == []
    assert all(h.title not in {x.title for x in school.hazards} for h in other.hazards)


def page(night: Night, username: str) -> Any:
    return night.client.get("/risk-map", headers=night.token(username))


def test_the_page_for_staff_and_for_students(night: Night) -> None:
    staff = page(night, "safety")
    assert staff.status_code == 200
    assert "东区1号楼3层宿舍私拉电线给电动车充电" in staff.text
    assert "实验楼危化品库" in staff.text
    policy = staff.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "http" not in policy  # nothing from another origin

    student = page(night, "monitor_cs2301")
    assert student.status_code == 200
    assert "西区湖边小路（夜间）" in student.text
    for internal in ("实验楼危化品库", "东区1号楼3层宿舍私拉电线给电动车充电", "riskmap-page"):
        assert internal not in student.text

    anonymous = night.client.get("/risk-map", follow_redirects=False)
    assert anonymous.status_code == 303


def test_buildings_are_named_as_reports_name_them_and_every_other_osm_name_once() -> None:
    base, places = service.campus(PROJECT_ROOT / "risk_map")
    zh = {label.name: (label.lon, label.lat) for label in service.campus_labels(base, places, "zh-CN")}
    en = [label.name for label in service.campus_labels(base, places, "en")]
    assert near(zh["东区1号楼"], "E1")  # the demo's name, not OSM's 学生公寓3号楼 for the same building
    assert "学生公寓3号楼" not in zh
    assert "新图书馆" in zh  # a place
    assert "国际学院" in zh  # named by OSM only, drawn at the middle of its outline
    assert "East Block 1" in en
    assert "Gymnasium" in en
