"""Improvement actions from a review: owned, due, reminded, escalated when overdue, closed only with evidence; one
that puts a hazard right closes only once the hazard is struck off; the leaders' list shows every open one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import User
from tests.integration.conftest import TEN_PM, Night
from tests.integration.test_review_meetings import open_incident, walk


def at(night: Night, moment: datetime) -> None:
    night.clock.set(moment.astimezone(UTC))
    night.worker.run_once()


def told(night: Night, action_id: int, kind: str) -> list[str]:
    with night.sessions() as db:
        rows = db.execute(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(
                Notification.subject_type == "improvement_action",
                Notification.subject_id == str(action_id),
                Notification.kind == kind,
            )
        )
        return sorted(rows.scalars())


def add(night: Night, incident_id: int, **body: Any) -> Any:
    return night.client.post(f"/api/v1/incidents/{incident_id}/actions", headers=night.token("affairs"), json=body)


def test_an_action_that_puts_a_hazard_right_is_escalated_when_late_and_closes_once_the_hazard_is_struck_off(
    night: Night,
) -> None:
    iid = open_incident(night, "II")
    still_open = add(
        night, iid, title="x", type="rule", owner_user_id=night.user("safety").id, due_at=(TEN_PM + timedelta(days=5)).isoformat()
    )
    assert (still_open.status_code, still_open.json()["field"]) == (409, "incident_id")
    walk(night, iid)
    with night.sessions() as db:
        school = db.execute(select(OrgUnit).where(OrgUnit.code == "HDU")).scalar_one()
    due = TEN_PM + timedelta(days=14)
    reply = add(
        night,
        iid,
        title="西区湖边小路加装照明和护栏",
        type="facility",
        owner_user_id=night.user("safety").id,
        due_at=due.isoformat(),
        new_hazard={
            "title": "湖边小路照明不足、无护栏",
            "category": "water",
            "unit_id": school.id,
            "location": {"type": "Point", "coordinates": [116.3481, 40.0036]},
            "likelihood": 3,
            "impact": 5,
        },
    )
    assert reply.status_code == 201, reply.text
    action = reply.json()
    aid, hid = action["id"], action["hazard_id"]
    hazard = night.client.get(f"/api/v1/hazards/{hid}", headers=night.token("safety")).json()
    assert (hazard["origin"], hazard["origin_ref"], hazard["level"]) == ("review", f"action:{aid}", "red")
    assert told(night, aid, "action.assigned") == ["safety"]

    at(night, due - timedelta(days=3, minutes=1))
    assert told(night, aid, "action.reminder") == []
    at(night, due - timedelta(days=3))
    assert told(night, aid, "action.reminder") == ["safety"]
    at(night, due)
    assert told(night, aid, "action.overdue") == ["affairs", "affairs2", "leader", "leader2", "safety"]
    listed = night.client.get("/api/v1/actions", headers=night.token("leader")).json()
    assert listed[0]["id"] == aid
    assert listed[0]["overdue"] is True

    # Evidence alone does not close it while its hazard is on the ledger.
    safety = night.token("safety")
    early = night.client.post(f"/api/v1/actions/{aid}/done", headers=safety, json={"evidence": "已安装路灯"})
    assert (early.status_code, early.json()["field"]) == (409, "hazard_id")
    fixes = {
        "owner_unit_id": school.id,
        "owner_user_id": night.user("safety").id,
        "measures": "加装路灯与护栏",
        "deadline": (due + timedelta(days=10)).isoformat(),
        "funds": "学校安全专项",
        "contingency_plan": "夜间临时封闭",
    }
    assert night.client.post(f"/api/v1/hazards/{hid}/assign", headers=safety, json=fixes).status_code == 200
    assert night.client.post(f"/api/v1/hazards/{hid}/submit", headers=safety, json={"rectification": "已安装"}).status_code == 200
    accepted = night.client.post(f"/api/v1/hazards/{hid}/accept", headers=night.token("admin"), json={"note": "验收合格"})
    assert accepted.json()["state"] == "closed"
    empty = night.client.post(f"/api/v1/actions/{aid}/done", headers=safety, json={"evidence": ""})
    assert (empty.status_code, empty.json()["field"]) == (422, "evidence")
    done = night.client.post(
        f"/api/v1/actions/{aid}/done", headers=safety, json={"evidence": "路灯 12 盏、护栏 300 米，验收单附后"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert aid not in [a["id"] for a in night.client.get("/api/v1/actions", headers=night.token("leader")).json()]
    kinds = [e["kind"] for e in night.client.get(f"/api/v1/incidents/{iid}/timeline", headers=night.token("response1")).json()]
    assert [k for k in kinds if k.startswith("action_")] == ["action_added", "action_overdue", "action_done"]
    # The review report lists it under 八、改进措施.
    report = night.client.get(f"/api/v1/incidents/{iid}/review-report.html", headers=night.token("affairs"))
    assert report.status_code == 200, report.text
    section = report.text[report.text.index("八、改进措施") :]
    assert "西区湖边小路加装照明和护栏" in section
    assert "已完成" in section


def test_a_training_action_closed_by_its_owner_and_scope(night: Night) -> None:
    iid = open_incident(night, "III")
    walk(night, iid)
    past = add(night, iid, title="培训", type="training", owner_user_id=night.user("counselor_cs").id, due_at=TEN_PM.isoformat())
    assert (past.status_code, past.json()["field"]) == (422, "due_at")
    reply = add(
        night,
        iid,
        title="辅导员夜间失联处置培训",
        type="training",
        owner_user_id=night.user("counselor_cs").id,
        due_at=(TEN_PM + timedelta(days=30)).isoformat(),
    )
    assert reply.status_code == 201, reply.text
    aid = reply.json()["id"]
    # Another college's officer neither sees nor closes it; its owner does.
    other = night.token("officer_me")
    assert night.client.post(f"/api/v1/actions/{aid}/done", headers=other, json={"evidence": "x"}).status_code == 404
    assert night.client.get("/api/v1/actions", headers=other).json() == []
    done = night.client.post(f"/api/v1/actions/{aid}/done", headers=night.token("counselor_cs"), json={"evidence": "签到表"})
    assert (done.status_code, done.json()["done_by"]) == (200, night.user("counselor_cs").id)
    again = night.client.post(f"/api/v1/actions/{aid}/done", headers=night.token("counselor_cs"), json={"evidence": "签到表"})
    assert again.status_code == 409


def test_the_leaders_page_lists_reviews_with_their_reports_and_open_actions_overdue_first(night: Night) -> None:
    iid = open_incident(night, "II")
    walk(night, iid)
    soon, later = TEN_PM + timedelta(days=2), TEN_PM + timedelta(days=20)
    for title, due in (("更新夜间值班电话", later), ("门禁数据接入", soon)):
        reply = add(night, iid, title=title, type="process", owner_user_id=night.user("affairs").id, due_at=due.isoformat())
        assert reply.status_code == 201, reply.text
    at(night, soon)
    page = night.client.get("/reviews", headers=night.token("leader"))
    assert page.status_code == 200
    html = page.text
    assert "复盘会与整改措施" in html
    assert f"/api/v1/incidents/{iid}/review-report.pdf" in html
    assert "待召开" in html
    assert html.index("门禁数据接入") < html.index("更新夜间值班电话")  # the overdue one first
    assert "逾期" in html
    level_three = night.client.get("/reviews?level=3", headers=night.token("leader")).text
    assert f"/api/v1/incidents/{iid}/review-report.pdf" not in level_three
    student = night.client.get("/reviews", headers=night.token("monitor_cs2301")).text
    assert "门禁数据接入" not in student
