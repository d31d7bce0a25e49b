"""Property (issue 16): on any grid, with users holding roles at several units, no reader finds a name or a
contact detail that the disclosure policy denies them, on any endpoint, page or report that shows a person.

The expected answer is worked out here from the roles and the grid alone (an oracle written apart from
`people.disclosure_rules`): a student's number and phone show only to a reader holding a contact role at a
unit over the student's class or dorm room, or commanding the incident; the name also to a reader told of
the escalation; a record's own words only to staff whose role covers its unit.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core.clock import ManualClock
from riskcontrol.escalation.models import Escalation, EscalationRecipient
from riskcontrol.grid.rules import UnitKind
from riskcontrol.incidents.models import IncidentRole
from riskcontrol.observations.models import Observation
from riskcontrol.people.models import Guardian, Student
from riskcontrol.people.rules import SEES_CONTACTS, STUDENT_ROLES, Role
from tests.conftest import wipe
from tests.integration.test_scope_property import Node, campuses, make_units, make_user, visible

NAMES = ("刘铭翔", "高辉翔", "王雨萱", "欧阳晨曦", "赵子豪", "孙佳琪", "周博文", "吴诗月")
SECRET = "药瓶藏在枕头下"  # the words of a record: shown only to staff covering it

Campus = tuple[list[Node], list[tuple[int, int | None]], list[list[tuple[Role, int]]]]


def _phone(k: int) -> str:
    return f"1391234{k:04d}"


def _number(k: int) -> str:
    return f"2023{k:06d}"


def _spaced(phone: str) -> str:
    return f"{phone[:3]} {phone[3:7]} {phone[7:]}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(campus=campuses(), data=st.data())
def test_no_reader_sees_a_name_or_contact_the_policy_denies(
    campus: Campus,
    data: st.DataObject,
    client: TestClient,
    engine: Engine,
    sessions: sessionmaker[Session],
    clock: ManualClock,
) -> None:
    nodes, student_specs, user_specs = campus
    classes = [i for i, n in enumerate(nodes) if n.kind == UnitKind.CLASS]
    if not student_specs or not classes:
        return
    student_specs = student_specs[: len(NAMES)]
    wipe(engine)
    clock.advance(timedelta(minutes=1))
    involved = sorted(data.draw(st.sets(st.integers(0, len(student_specs) - 1), min_size=1), label="involved"))
    incident_unit = data.draw(st.sampled_from([student_specs[i][0] for i in involved]), label="incident unit")
    told = data.draw(st.sets(st.integers(0, len(user_specs) - 1)), label="told")
    commander = data.draw(st.none() | st.integers(0, len(user_specs) - 1), label="commander")

    with sessions() as db:
        units = make_units(db, nodes)
        students = []
        for k, (cls, dorm) in enumerate(student_specs):
            student = Student(
                student_no=_number(k),
                name=NAMES[k],
                gender="M",
                class_id=units[cls].id,
                dorm_id=units[dorm].id if dorm is not None else None,
                phone=_phone(k),
            )
            student.guardians = [Guardian(name=f"{NAMES[k][0]}父亲", relation="父亲", phone=_phone(100 + k))]
            db.add(student)
            students.append(student)
        # The response team at the school opens the incident; it is not one of the readers under test.
        team, team_token = make_user(db, clock, "team", [(Role.RESPONSE_TEAM, units[0].id)])
        readers = [
            make_user(db, clock, f"user{k}", [(role, units[at].id) for role, at in assignments])
            for k, assignments in enumerate(user_specs)
        ]
        db.commit()
        unit_ids = [u.id for u in units]
        student_ids = [s.id for s in students]
        reader_ids = [user.id for user, _ in readers]
        tokens = {user.username: token for user, token in readers}

    team_headers = {"Authorization": f"Bearer {team_token}"}
    words = "；".join(f"{NAMES[i]}（{_number(i)}）电话 {_spaced(_phone(i))}，家长 {_phone(100 + i)}" for i in involved)
    opened = client.post(
        "/api/v1/incidents",
        headers=team_headers,
        json={
            "type": "missing_student",
            "level": "II",
            "title": f"失联：{NAMES[involved[0]]}",
            "unit_id": unit_ids[incident_unit],
            "summary": f"{SECRET}。{words}",
            "people": [{"student_id": student_ids[i], "involvement": "missing", "note": SECRET} for i in involved],
        },
    )
    assert opened.status_code == 201, opened.text
    iid = opened.json()["id"]
    note = client.post(f"/api/v1/incidents/{iid}/notes", headers=team_headers, json={"text": f"{SECRET}：{words}"})
    assert note.status_code == 201, note.text
    first = involved[0]
    with sessions() as db:
        if commander is not None:
            db.add(IncidentRole(incident_id=iid, role="commander", user_id=reader_ids[commander], assigned_at=clock.now()))
        esc = Escalation(
            subject_type="observation",
            subject_id="1",
            level="red",
            unit_id=unit_ids[student_specs[first][0]],
            student_id=student_ids[first],
            title_zh=f"{NAMES[first]}（{_number(first)}） 异常情况报告",
            title_en=f"Observation about {NAMES[first]} ({_number(first)})",
            summary_zh=f"寝室长 报告：{SECRET}。电话 {_phone(first)}",
            summary_en=f"Reported: {SECRET}. phone {_phone(first)}",
            status="open",
            policy={},
            current_step=0,
            step_late_seconds=0,
            started_at=clock.now(),
            delivery_problem=False,
        )
        db.add(esc)
        db.flush()
        esc_id = esc.id
        db.add_all(EscalationRecipient(escalation_id=esc_id, user_id=reader_ids[k], step=0, told_at=clock.now()) for k in told)
        # An observation about the same student, filed by someone who is not among the readers.
        db.add(
            Observation(
                client_id="obs-1",
                filed_by=team.id,
                unit_id=unit_ids[student_specs[first][0]],
                student_id=student_ids[first],
                checklist=["sudden_mood_change"],
                note=f"{SECRET}：{NAMES[first]}（{_number(first)}），电话 {_spaced(_phone(first))}",
                observed_at=clock.now(),
                filed_at=clock.now(),
                suggested_level="blue",
                score=1,
                reasons=[],
                level="blue",
            )
        )
        db.commit()

    incident_path = {incident_unit}
    for k, assignments in enumerate(user_specs):
        headers = {"Authorization": f"Bearer {tokens[f'user{k}']}"}
        contact_scope = visible(nodes, {at for role, at in assignments if role in SEES_CONTACTS})
        staff_scope = visible(nodes, {at for role, at in assignments if role not in STUDENT_ROLES})
        commands = commander == k

        def full(i: int, contact_scope: set[int] = contact_scope, commands: bool = commands) -> bool:
            cls, dorm = student_specs[i]
            return commands or cls in contact_scope or (dorm is not None and dorm in contact_scope)

        incident_texts = commands or bool(incident_path & staff_scope)
        pages = {
            "incident": client.get(f"/api/v1/incidents/{iid}", headers=headers),
            "incidents": client.get("/api/v1/incidents", headers=headers),
            "timeline": client.get(f"/api/v1/incidents/{iid}/timeline", headers=headers),
            "report": client.get(f"/api/v1/incidents/{iid}/review-report.html", headers=headers),
            "board": client.get("/api/v1/board", headers=headers),
        }
        for what, reply in pages.items():
            assert reply.status_code in (200, 403, 404), (what, reply.status_code, reply.text)
            text = reply.text if reply.status_code == 200 else ""
            for i in involved:
                if not full(i):
                    for secret in (_number(i), _phone(i), _spaced(_phone(i)), _phone(100 + i), f"{NAMES[i][0]}父亲"):
                        assert secret not in text, (what, k, assignments, secret)
                    assert NAMES[i] not in text, (what, k, assignments, NAMES[i])
            if not incident_texts:
                assert SECRET not in text, (what, k, assignments)

        esc_scope = student_specs[first][0]
        # The escalation's readers told of it may read the name; nobody was told of the observation.
        for what, reply, was_told in (
            ("escalation", client.get(f"/api/v1/escalations/{esc_id}", headers=headers), k in told),
            ("escalations", client.get("/api/v1/escalations", headers=headers), k in told),
            ("mine", client.get("/api/v1/escalations?mine=true", headers=headers), k in told),
            ("observations", client.get("/api/v1/observations", headers=headers), False),
        ):
            assert reply.status_code in (200, 403, 404), (what, reply.status_code, reply.text)
            text = reply.text if reply.status_code == 200 else ""
            if not full(first) or commands:  # a command role on the incident is not one on the escalation
                cls, dorm = student_specs[first]
                contact = cls in contact_scope or (dorm is not None and dorm in contact_scope)
                if not contact:
                    assert _number(first) not in text, (what, k, assignments)
                    assert _phone(first) not in text, (what, k, assignments)
                    if not was_told:
                        assert NAMES[first] not in text, (what, k, assignments)
            if esc_scope not in staff_scope:
                assert SECRET not in text, (what, k, assignments)
