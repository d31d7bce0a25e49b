"""The case library: a closed, reviewed missing-student incident becomes a training case with none of the involved
people's identifiers — checked by searching the whole case (JSON and Markdown) for every one of them."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import Guardian, Student
from tests.integration.conftest import SHANGHAI, TEN_PM, Night
from tests.integration.test_review_meetings import WALK, walk
from tests.texts import faults


def test_the_case_carries_no_identifier_of_the_people_involved(night: Night) -> None:
    leader_id = night.user("leader").id
    with night.sessions() as db:
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        student = db.execute(select(Student).where(Student.dorm_id == room.id).order_by(Student.student_no)).scalars().first()
        assert student is not None
        guardians = list(db.execute(select(Guardian).where(Guardian.student_id == student.id)).scalars())
        cls = db.get(OrgUnit, student.class_id)
        assert cls is not None
        identifiers = [student.name, student.student_no, student.phone or "", room.code, room.name_zh]
        identifiers += [g.name for g in guardians] + [g.phone for g in guardians]
        identifiers += [cls.name_zh, cls.code]  # the class narrows it to a few dozen students
        body = {
            "type": "missing_student",
            "level": "II",
            "title": f"{cls.name_zh}{student.name}晚归未归",
            "unit_id": cls.id,
            "location": f"{room.name_zh}",
            "summary": f"22:00 寝室长报告{student.name}（学号{student.student_no}）未归，电话{student.phone}关机。",
            "people": [{"student_id": student.id, "involvement": "missing", "note": f"家长{guardians[0].name}已知情"}],
            "commander_id": leader_id,
        }
    team = night.token("response1")
    reply = night.client.post("/api/v1/incidents", headers=team, json=body)
    assert reply.status_code == 201, reply.text
    iid = reply.json()["id"]
    note = night.client.post(
        f"/api/v1/incidents/{iid}/notes",
        headers=team,
        json={"text": f"已联系家长{guardians[0].name}（{guardians[0].phone}），{student.name[1:]}最后出现在{room.code}"},
    )
    assert note.status_code == 201, note.text
    # The variants people actually write: a phone with dashes, spaces or +86, the class without 班,
    # and "学生" before the name.
    phone = guardians[0].phone
    dashed, spaced = f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    variants = f"学生{student.name}的家长电话 {dashed}，又打 {spaced}；{cls.name_zh.removesuffix('班')}的同学在找"
    assert night.client.post(f"/api/v1/incidents/{iid}/notes", headers=team, json={"text": variants}).status_code == 201
    identifiers += [dashed, spaced, f"{phone[3:7]} {phone[7:]}", cls.name_zh.removesuffix("班")]
    walk(night, iid, WALK)
    meeting = next(
        m for m in night.client.get("/api/v1/reviews", headers=night.token("affairs")).json() if m["incident_id"] == iid
    )
    held_at = (TEN_PM + timedelta(days=7)).astimezone(SHANGHAI)
    night.clock.set(held_at + timedelta(hours=1))
    affairs = night.token("affairs")
    too_early = night.client.post(f"/api/v1/incidents/{iid}/case", headers=affairs)
    assert (too_early.status_code, too_early.json()["field"]) == (409, "incident_id")
    held = night.client.post(
        f"/api/v1/reviews/{meeting['id']}/held",
        headers=affairs,
        json={
            "held_at": held_at.isoformat(),
            "attendees": [
                {"user_id": night.user("counselor_cs").id, "role": "辅导员"},
                {"name": guardians[0].name, "role": "家长"},
            ],
            "minutes": f"{student.name}的辅导员介绍了情况，{guardians[0].name}表示感谢。",
            "conclusions": [f"{room.name_zh}夜间查寝需与门禁联动", "辅导员夜间值班电话需公示"],
        },
    )
    assert held.status_code == 200, held.text

    made = night.client.post(f"/api/v1/incidents/{iid}/case", headers=affairs)
    assert made.status_code == 201, made.text
    case = made.json()
    assert night.client.post(f"/api/v1/incidents/{iid}/case", headers=affairs).status_code == 409
    exported = night.client.get(f"/api/v1/cases/{case['id']}/export.md", headers=night.token("counselor_cs"))
    assert exported.status_code == 200
    text = json.dumps(case, ensure_ascii=False) + exported.text
    staff = [night.user(name).name for name in ("response1", "leader", "counselor_cs", "affairs")]
    for identifier in [*identifiers, *staff]:
        assert identifier, "every identifier of the people involved is known"
        assert identifier not in text, identifier
    # What a counsellor learns from is still there.
    assert case["level"] == "Ⅱ"
    assert case["period"] == "2026年11月"
    assert "辅导员夜间值班电话需公示" in case["conclusions"]
    assert any(row["when"] == "T+0分钟" for row in case["timeline"])
    # The course of events reads in words, as on the incident page and in the review report.
    lines = [row["what"] for row in case["timeline"]]
    assert "接报立案" in lines
    assert "接报 → 现场控制" in lines
    assert not any(line.startswith(("transition", "created", "role", "recovery_", "review_")) for line in lines), lines
    assert faults("\n".join(lines), "zh-CN") == [], lines
    # The export names the actions' types and states in words, not as codes.
    assert "[process]" not in exported.text
    assert "（open）" not in exported.text
    assert faults(exported.text, "zh-CN") == []
    assert "学生甲" in text
    assert "学生学生" not in text  # "学生刘铭翔" reads "学生甲", not "学生学生甲"
    # Found by search, readable by counsellors, not by students.
    assert [c["id"] for c in night.client.get("/api/v1/cases?q=门禁", headers=night.token("counselor_cs")).json()] == [case["id"]]
    assert night.client.get("/api/v1/cases", headers=night.token("monitor_cs2301")).status_code == 403
