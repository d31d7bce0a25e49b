"""Property: whatever identifiers of the student, their guardian and the staff are written into an incident
(title, place, summary, people's notes, timeline notes, transition reasons, task evidence, review minutes and
conclusions, improvement actions), in whatever form, none survives in any field of the case or its Markdown."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import Incident, IncidentTask
from riskcontrol.people.models import Guardian, Student, User
from riskcontrol.reviews import cases
from riskcontrol.reviews.models import CaseStudy, ImprovementAction, ReviewMeeting
from tests.integration.conftest import SHANGHAI, Night
from tests.unit.test_anonymiser_property import ORDINARY, Identity, forms, identities, survivors


def _on_campus(night: Night, who: Identity, pick: int) -> tuple[Identity, int]:
    """Give one demo student (and their first guardian, and the response-team user) `who`'s identifiers;
    return `who` with the student's real class and room, and the student's id."""
    with night.sessions() as db:
        students = db.execute(select(Student).where(Student.dorm_id.is_not(None)).order_by(Student.id).limit(40)).scalars()
        student = list(students)[pick]
        taken = db.execute(select(Student.id).where(Student.student_no == who.student_no, Student.id != student.id)).first()
        assume(taken is None)
        cls, room = db.get(OrgUnit, student.class_id), db.get(OrgUnit, student.dorm_id)
        assert cls is not None
        assert room is not None
        assert cls.parent_id is not None
        college = db.get(OrgUnit, cls.parent_id)
        assert college is not None
        number = re.search(r"[0-9]+", cls.name_zh)
        building, room_no = re.findall(r"[0-9]+", room.code)[-2:]
        assert number is not None
        student.name, student.student_no, student.phone = who.name, who.student_no, who.phone
        guardian = db.execute(select(Guardian).where(Guardian.student_id == student.id).order_by(Guardian.id)).scalars().first()
        assert guardian is not None
        guardian.name, guardian.phone = who.guardian, who.guardian_phone
        team = db.execute(select(User).where(User.username == "response1")).scalar_one()
        team.name = who.staff
        db.commit()
        on_campus = replace(
            who,
            major=(cls.name_zh[: number.start()], college.name_zh, cls.code.removesuffix(number[0])),
            class_number=number[0],
            block=(room.code[0], room.name_zh[0]),
            building=int(building),
            room=room_no,
        )
        return on_campus, student.id


# No shrinking: each example opens an incident on the demo campus, and the failing one is printed whole.
@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(who=identities(), pick=st.integers(0, 39), data=st.data())
def test_no_identifier_survives_in_the_case_or_its_markdown(night: Night, who: Identity, pick: int, data: st.DataObject) -> None:
    who, student_id = _on_campus(night, who, pick)

    def text() -> str:
        written = data.draw(st.lists(st.sampled_from(forms(who)), min_size=1, max_size=4))
        return "，".join([*written, data.draw(st.sampled_from(ORDINARY))])

    with night.sessions() as db:
        student = db.get(Student, student_id)
        assert student is not None
        class_id = student.class_id
    team = night.token("response1")
    body = {
        "type": "missing_student",
        "level": "II",
        "title": text()[:200],
        "unit_id": class_id,
        "location": data.draw(st.sampled_from(forms(who)[-12:])),
        "summary": text(),
        "people": [{"student_id": student_id, "involvement": "missing", "note": text()}],
        "commander_id": night.user("leader").id,
    }
    opened = night.client.post("/api/v1/incidents", headers=team, json=body)
    assert opened.status_code == 201, opened.text
    iid = opened.json()["id"]
    for _ in range(2):
        assert night.client.post(f"/api/v1/incidents/{iid}/notes", headers=team, json={"text": text()}).status_code == 201
    moved = night.client.post(
        f"/api/v1/incidents/{iid}/transitions/take_control", headers=team, json={"reason": text(), "confirm": True}
    )
    assert moved.status_code == 200, moved.text
    with night.sessions() as db:
        task = (
            db.execute(select(IncidentTask).where(IncidentTask.incident_id == iid, IncidentTask.status == "open"))
            .scalars()
            .first()
        )
        assert task is not None
        task_id = task.id
    done = night.client.post(f"/api/v1/incidents/{iid}/tasks/{task_id}/complete", headers=team, json={"evidence": text()})
    assert done.status_code == 200, done.text

    now, owner = night.clock.now(), night.user("leader").id
    with night.sessions() as db:
        incident = db.get(Incident, iid)
        assert incident is not None
        db.add(
            ReviewMeeting(
                incident_id=iid,
                unit_path=incident.unit_path,
                level=incident.level,
                closed_at=now,
                due_at=now + timedelta(days=30),
                status="held",
                held_at=now,
                attendees=[{"name": who.guardian, "role": "家长"}, {"name": who.staff, "role": "值班"}],
                minutes=text(),
                conclusions=[text(), text()],
                created_at=now,
            )
        )
        db.add(
            ImprovementAction(
                incident_id=iid,
                unit_path=incident.unit_path,
                title=text()[:200],
                detail=text(),
                type="process",
                owner_user_id=owner,
                due_at=now + timedelta(days=30),
                status="open",
                created_at=now,
            )
        )
        db.flush()
        case = cases.build(db, incident, tz=SHANGHAI)
        db.rollback()
    output = json.dumps(case, ensure_ascii=False) + "\n" + cases.markdown(CaseStudy(body=case))

    assert survivors(who, output) == [], output
