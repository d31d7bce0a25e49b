"""A student's rights over their data: student affairs exports everything held about them, and records
and decides their correction requests (PIPL Art. 45 and 46)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.escalation.models import Escalation
from riskcontrol.incidents.models import Incident, IncidentPerson, IncidentProposal
from riskcontrol.models import metadata
from riskcontrol.observations.models import Observation
from riskcontrol.people.concern_models import KeyConcern, TalkRecord
from riskcontrol.people.factor_models import StudentFactor
from riskcontrol.people.models import Student
from riskcontrol.privacy.subject import export
from riskcontrol.privacy.subject.models import CorrectionRequest
from riskcontrol.reviews.models import RecoveryItem
from tests import factories as f
from tests.integration.test_health_and_cli import run


@dataclass
class Seeded:
    campus: f.Campus
    me: Student
    other: Student


def _observation(db: Session, by: int, student: Student, unit_id: int, clock: ManualClock, note: str, n: int) -> Observation:
    obs = Observation(
        client_id=f"phone-{n}",
        filed_by=by,
        unit_id=unit_id,
        student_id=student.id,
        checklist=["withdrawn"],
        note=note,
        photo_path=f"observations/2026/obs-{n}.jpg",
        photo_type="image/jpeg",
        observed_at=clock.now(),
        filed_at=clock.now(),
        suggested_level="yellow",
        score=3,
        reasons=[{"code": "withdrawn"}],
        level="yellow",
    )
    db.add(obs)
    db.flush()
    esc = Escalation(
        subject_type="observation",
        subject_id=str(obs.id),
        level="yellow",
        unit_id=unit_id,
        title_zh=f"关注：{student.name}",
        title_en=f"Concern: {student.name}",
        summary_zh=note,
        summary_en=note,
        status="open",
        policy={"chain": []},
        current_step=0,
        started_at=clock.now(),
    )
    db.add(esc)
    db.flush()
    obs.escalation_id = esc.id
    return obs


def seed(db: Session, clock: ManualClock) -> Seeded:
    """Two roommates of C1K1R1/R2 with something of every kind held about each; the first is also a dorm head."""
    campus = f.build_campus(db)
    me, other = campus.students["C1K1R1"], campus.students["C1K1R2"]
    f.user(db, "affairs", ("student_affairs", campus["S"]), name="学工处王老师")
    counselor = f.user(db, "counselor", ("counselor", campus["C1K1"]), name="辅导员赵老师")
    f.user(db, "counselor_c2", ("counselor", campus["C2"]))
    f.user(db, "dorm_head", ("dorm_head", campus["C1K1R2"]))
    f.user(db, "psych", ("psych_center", campus["S"]))
    account = f.user(db, "me_as_dorm_head", ("dorm_head", campus["C1K1R1"]), name=me.name)
    account.student_id = me.id
    now = clock.now()
    room = campus["C1K1R1"].id
    _observation(db, account.id, me, room, clock, "最近很少说话，夜里哭", 1)
    _observation(db, account.id, other, campus["C1K1R2"].id, clock, "室友的秘密备注", 2)
    incident = Incident(
        type="missing",
        playbook_version=1,
        playbook={},
        sop_version=1,
        sop={},
        level=3,
        state="closed",
        is_open=False,
        title="寝室学生失联",
        location="东1栋",
        summary=f"{other.name}与{me.name}同时未归",
        unit_id=campus["C1K1"].id,
        unit_path=campus["C1K1"].path,
        source="hotline",
        started_at=now,
        closed_at=now + timedelta(hours=3),
    )
    db.add(incident)
    db.flush()
    mine = IncidentPerson(
        incident_id=incident.id, student_id=me.id, name=me.name, involvement="subject", note="家中有变故", added_at=now
    )
    theirs = IncidentPerson(
        incident_id=incident.id,
        student_id=other.id,
        name=other.name,
        involvement="witness",
        note="另一人的健康信息",
        added_at=now,
    )
    db.add_all([mine, theirs])
    db.flush()
    for person, note in ((mine, "会谈：情绪平稳"), (theirs, "另一人的会谈记录")):
        db.add(
            RecoveryItem(
                incident_id=incident.id,
                person_id=person.id,
                unit_path=campus["C1K1"].path,
                code="counselling",
                label_zh="个体心理辅导",
                label_en="Individual counselling",
                owner_role="psych_center",
                due_at=now + timedelta(days=3),
                status="done",
                note=note,
                created_at=now,
            )
        )
    db.add(
        IncidentProposal(
            type="missing",
            level=4,
            title="可能失联",
            unit_id=room,
            unit_path=campus["C1K1R1"].path,
            source="escalation",
            source_id="1",
            student_id=me.id,
            proposed_at=now,
        )
    )
    for student, reasons in ((me, "情绪低落"), (other, "另一人的关注原因")):
        concern = KeyConcern(
            student_id=student.id,
            level="yellow",
            reason_codes=["withdrawn"],
            reasons=reasons,
            counselor_id=counselor.id,
            status="active",
            source="manual",
            started_at=now,
            review_on=date(2027, 1, 15),
        )
        db.add(concern)
        db.flush()
        db.add(
            TalkRecord(
                key_concern_id=concern.id,
                student_id=student.id,
                counselor_id=counselor.id,
                talked_at=now,
                mode="in_person",
                summary=f"谈话：{reasons}",
                risk_change="same",
                next_due_at=now + timedelta(days=7),
                recorded_at=now,
            )
        )
        db.add(
            StudentFactor(
                student_id=student.id,
                code="academic_warning",
                source="academic",
                dated=date(2026, 9, 1),
                expires_on=date(2027, 9, 1),
                detail={"failed_credits": 12 if student is me else 99},
                imported_at=now,
            )
        )
    db.commit()
    return Seeded(campus, me, other)


def _export(client: TestClient, student_id: int, user: str = "affairs", **params: str) -> Any:
    return client.get(f"/api/v1/students/{student_id}/export", params=params, headers=f.bearer(client, user))


def test_every_table_that_refers_to_a_student_has_a_section_in_the_export() -> None:
    """A table added later with a student column fails here until the export reads it."""
    student_table = metadata.tables["student"]
    refers = {
        table.name
        for table in metadata.tables.values()
        if "student_id" in table.columns or any(fk.column.table is student_table for fk in table.foreign_keys)
    }
    assert refers, "the metadata names no table about students"
    assert refers - export.covered_tables() == set()


def test_the_export_holds_every_kind_of_record_about_the_student_and_nothing_about_a_roommate(
    client: TestClient, db: Session, clock: ManualClock
) -> None:
    seeded = seed(db, clock)
    me, other = seeded.me, seeded.other
    # The student's counsellor reads her contacts: the export says who, and when.
    assert client.get(f"/api/v1/people/students/{me.id}/contacts", headers=f.bearer(client, "counselor")).status_code == 200
    client.get(f"/api/v1/people/students/{other.id}/contacts", headers=f.bearer(client, "counselor"))
    recorded = client.post(
        f"/api/v1/students/{me.id}/corrections",
        headers=f.bearer(client, "affairs"),
        json={"record": "observations 1 note", "statement": "我那晚没有哭", "requested_by": "本人"},
    )
    assert recorded.status_code == 201, recorded.text

    reply = _export(client, me.id)

    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    data = reply.json()
    sections = data["sections"]
    assert data["student"]["student_no"] == me.student_no
    assert data["student"]["class"]["code"] == "C1K1"
    assert set(sections) == {s.key for s in export.SECTIONS}
    assert {key for key, rows in sections.items() if not rows} == set(), "every kind of record is seeded"
    assert [g["name"] for g in sections["guardians"]] == ["家长C1K1R1"]
    assert [u["username"] for u in sections["user_accounts"]] == ["me_as_dorm_head"]
    assert "password_hash" not in sections["user_accounts"][0]
    assert [r["role"] for r in sections["role_assignments"]] == ["dorm_head"]
    [observation] = sections["observations"]
    assert observation["note"] == "最近很少说话，夜里哭"
    assert observation["checklist"] == ["withdrawn"]
    assert observation["level"] == "yellow"
    assert observation["photo"] == "obs-1.jpg"
    assert [e["subject_id"] for e in sections["escalations"]] == [str(observation["id"])]
    assert [(p["involvement"], p["note"]) for p in sections["incident_people"]] == [("subject", "家中有变故")]
    assert [i["title"] for i in sections["incidents"]] == ["寝室学生失联"]
    assert [p["title"] for p in sections["incident_proposals"]] == ["可能失联"]
    assert [k["reasons"] for k in sections["key_concerns"]] == ["情绪低落"]
    assert [t["summary"] for t in sections["talk_records"]] == ["谈话：情绪低落"]
    assert [r["detail"] for r in sections["risk_factors"]] == [{"failed_credits": 12}]
    # The session note is clinical: student affairs learns there is one, the psych centre holds it.
    [recovery] = sections["recovery_items"]
    assert (recovery["label_zh"], recovery["note"], recovery["note_withheld"]) == ("个体心理辅导", None, True)
    reads = [(a["actor"], a["action"]) for a in sections["audit"]]
    assert ("counselor", "student.contacts.read") in reads
    assert [c["statement"] for c in sections["correction_requests"]] == ["我那晚没有哭"]
    assert "辅导员赵老师" in {s["name"] for s in data["staff"]}

    text = json.dumps(data, ensure_ascii=False)
    for secret in (other.name, other.student_no, "家长C1K1R2", "室友的秘密备注", "另一人", "99"):
        assert secret not in text, secret


def test_the_export_is_audited(client: TestClient, db: Session, clock: ManualClock) -> None:
    seeded = seed(db, clock)
    assert _export(client, seeded.me.id, format="json").status_code == 200
    db.rollback()
    [row] = db.execute(select(AuditLog).where(AuditLog.action == "student.export")).scalars()
    assert (row.actor, row.subject_type, row.subject_id) == ("affairs", "student", str(seeded.me.id))
    assert row.detail["format"] == "json"
    assert row.detail["rows"]["observations"] == 1


@pytest.mark.parametrize(
    ("user", "status"),
    [("counselor_c2", 403), ("dorm_head", 403), ("counselor", 403)],
    ids=["a counsellor of another college", "a dorm head", "the student's own counsellor"],
)
def test_only_student_affairs_exports(client: TestClient, db: Session, clock: ManualClock, user: str, status: int) -> None:
    seeded = seed(db, clock)
    assert _export(client, seeded.me.id, user).status_code == status
    reply = client.post(
        f"/api/v1/students/{seeded.me.id}/corrections",
        headers=f.bearer(client, user),
        json={"record": "student.phone", "statement": "号码错了", "requested_by": "本人"},
    )
    assert reply.status_code == status
    db.rollback()
    assert db.execute(select(AuditLog).where(AuditLog.action == "student.export")).first() is None
    assert db.execute(select(CorrectionRequest)).first() is None


def test_a_student_who_does_not_exist_is_not_found(client: TestClient, db: Session, clock: ManualClock) -> None:
    seed(db, clock)
    reply = _export(client, 999_999)
    assert reply.status_code == 404
    assert reply.json()["field"] == "student_id"


def test_the_pdf_is_a_readable_document_with_a_heading_per_kind_of_record(
    client: TestClient, db: Session, clock: ManualClock, tmp_path: Path
) -> None:
    seeded = seed(db, clock)
    reply = _export(client, seeded.me.id, format="pdf")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/pdf"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.content.startswith(b"%PDF")
    english = _export(client, seeded.me.id, format="pdf", lang="en")
    assert english.content.startswith(b"%PDF")
    if shutil.which("pdftotext") is None:
        return
    (tmp_path / "zh.pdf").write_bytes(reply.content)
    (tmp_path / "en.pdf").write_bytes(english.content)
    zh = subprocess.run(["pdftotext", str(tmp_path / "zh.pdf"), "-"], check=True, capture_output=True, text=True).stdout
    en = subprocess.run(["pdftotext", str(tmp_path / "en.pdf"), "-"], check=True, capture_output=True, text=True).stdout
    assert seeded.me.name in zh
    assert "观察记录" in zh
    assert "谈心谈话记录" in zh
    assert "Observations" in en
    assert seeded.other.name not in zh


def test_a_correction_is_recorded_then_decided_once(client: TestClient, db: Session, clock: ManualClock) -> None:
    seeded = seed(db, clock)
    affairs = f.bearer(client, "affairs")
    base = f"/api/v1/students/{seeded.me.id}/corrections"
    received = (clock.now() - timedelta(days=2)).isoformat()
    made = client.post(
        base,
        headers=affairs,
        json={"record": "student.phone", "statement": "电话应为13912345678", "requested_by": "本人", "received_at": received},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["status"], body["requested_by"], body["decided_at"]) == ("pending", "本人", None)
    clock.advance(timedelta(hours=1))
    decided = client.post(
        f"{base}/{body['id']}/decision", headers=affairs, json={"decision": "accepted", "reason": "已核对学籍档案"}
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decision_reason"]) == ("accepted", "已核对学籍档案")
    again = client.post(f"{base}/{body['id']}/decision", headers=affairs, json={"decision": "refused", "reason": "改主意"})
    assert again.status_code == 409
    assert [c["status"] for c in client.get(base, headers=affairs).json()] == ["accepted"]
    db.rollback()
    actions = db.execute(
        select(AuditLog.action).where(AuditLog.action.like("student.correction.%")).order_by(AuditLog.id)
    ).scalars()
    assert list(actions) == ["student.correction.recorded", "student.correction.decided"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"statement": "错了", "requested_by": "本人"}, "record"),
        ({"record": "student.phone", "statement": "   ", "requested_by": "本人"}, "statement"),
        ({"record": "student.phone", "statement": "错了", "requested_by": ""}, "requested_by"),
        (
            {"record": "student.phone", "statement": "错了", "requested_by": "本人", "received_at": "2026-11-01T10:00:00"},
            "received_at",
        ),
        (
            {"record": "student.phone", "statement": "错了", "requested_by": "本人", "received_at": "2099-01-01T00:00:00+08:00"},
            "received_at",
        ),
    ],
    ids=["no record", "a blank statement", "nobody asked", "a time without its zone", "received in the future"],
)
def test_a_bad_correction_request_names_the_field_and_stores_nothing(
    client: TestClient, db: Session, clock: ManualClock, payload: dict[str, str], field: str
) -> None:
    seeded = seed(db, clock)
    reply = client.post(f"/api/v1/students/{seeded.me.id}/corrections", headers=f.bearer(client, "affairs"), json=payload)
    assert reply.status_code == 422, reply.text
    answer = reply.json()
    named = {answer.get("field")} | {str(e.get("field")) for e in answer.get("errors") or []}
    assert any(field in (n or "") for n in named), answer
    db.rollback()
    assert db.execute(select(CorrectionRequest)).first() is None
    assert db.execute(select(AuditLog).where(AuditLog.action.like("student.correction.%"))).first() is None


def test_a_bad_decision_names_the_field(client: TestClient, db: Session, clock: ManualClock) -> None:
    seeded = seed(db, clock)
    affairs = f.bearer(client, "affairs")
    base = f"/api/v1/students/{seeded.me.id}/corrections"
    cid = client.post(
        base, headers=affairs, json={"record": "student.phone", "statement": "错了", "requested_by": "本人"}
    ).json()["id"]
    maybe = client.post(f"{base}/{cid}/decision", headers=affairs, json={"decision": "maybe", "reason": "不确定"})
    assert maybe.status_code == 422
    unexplained = client.post(f"{base}/{cid}/decision", headers=affairs, json={"decision": "refused", "reason": " "})
    assert unexplained.status_code == 422
    elsewhere = client.post(
        f"/api/v1/students/{seeded.other.id}/corrections/{cid}/decision",
        headers=affairs,
        json={"decision": "refused", "reason": "无据"},
    )
    assert elsewhere.status_code == 404
    assert elsewhere.json()["field"] == "correction_id"
    assert client.get(base, headers=affairs).json()[0]["status"] == "pending"


def test_the_command_writes_the_export_for_a_student_affairs_user_and_audits_it(
    db: Session, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    seeded = seed(db, clock)
    target = tmp_path / "out" / "export.json"
    code, output = run(database_url, "privacy", "export", seeded.me.student_no, "--as", "affairs", "--out", str(target))
    assert code == 0, output
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["student"]["name"] == seeded.me.name
    assert target.stat().st_mode & 0o077 == 0, "personal data is readable by its owner only"
    db.rollback()
    assert db.execute(select(AuditLog.actor).where(AuditLog.action == "student.export")).scalars().all() == ["affairs"]
    refused, _ = run(
        database_url, "privacy", "export", seeded.me.student_no, "--as", "dorm_head", "--out", str(tmp_path / "no.json")
    )
    assert refused == 1
    assert not (tmp_path / "no.json").exists()
