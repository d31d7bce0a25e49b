"""The 7×24 duty roster on the demo campus with a manual clock.

The demo rosters the night team (response1 lead, response3 deputy, 20:00–08:00) and the day team
(response2 lead, response4 deputy, 08:00–20:00) from Saturday 2026-11-28 22:00, with no deputy on
Thursday 12-03 from 08:00 to 20:00. Student affairs keeps the roster; the team reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from riskcontrol.core.audit import AuditLog
from riskcontrol.core.deadlines import Deadline
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents.models import DutyShift
from riskcontrol.incidents.roster import GAP_CHECK
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import User
from tests.integration.conftest import SHANGHAI, Night


def local(day: int, hh_mm: str) -> datetime:
    """hh:mm Shanghai time on 2026-11-`day` (days past 30 run on into December), as UTC."""
    hours, minutes = (int(x) for x in hh_mm.split(":"))
    return (datetime(2026, 11, 1, hours, minutes, tzinfo=SHANGHAI) + timedelta(days=day - 1)).astimezone(UTC)


THU_GAP = (local(33, "08:00"), local(33, "20:00"))  # Thursday 12-03, the deputy's day shift


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def ids(night: Night, *usernames: str) -> list[int]:
    return [night.user(name).id for name in usernames]


def count(night: Night, model: type[Any], *where: Any) -> int:
    with night.sessions() as db:
        return int(db.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def shift_of(night: Night, username: str, starts_at: datetime) -> int:
    with night.sessions() as db:
        stmt = select(DutyShift.id).join(User, User.id == DutyShift.user_id)
        return int(db.execute(stmt.where(User.username == username, DutyShift.starts_at == starts_at)).scalar_one())


def add(night: Night, username: str, position: str, starts_at: datetime, ends_at: datetime, *, by: str = "affairs") -> Any:
    body = {
        "user_id": night.user(username).id,
        "position": position,
        "starts_at": starts_at.astimezone(SHANGHAI).isoformat(),
        "ends_at": ends_at.astimezone(SHANGHAI).isoformat(),
    }
    return night.client.post("/api/v1/roster/shifts", headers=night.token(by), json=body)


def at(night: Night, moment: datetime) -> None:
    night.clock.set(moment)
    night.worker.run_once()


def told(night: Night, kind: str) -> list[tuple[str, dict[str, Any]]]:
    with night.sessions() as db:
        stmt = select(User.username, Notification.data).join(User, User.id == Notification.user_id)
        return [(name, data) for name, data in db.execute(stmt.where(Notification.kind == kind).order_by(Notification.id))]


# --- reading the roster ------------------------------------------------------------------------


def test_at_ten_at_night_the_night_team_is_on_duty_until_eight(night: Night) -> None:
    now = night.client.get("/api/v1/roster/now", headers=night.token("response2")).json()
    assert [p["user_id"] for p in now["leads"]] == ids(night, "response1")
    assert [p["user_id"] for p in now["deputies"]] == ids(night, "response3")
    assert now["uncovered"] == []
    assert when(now["next_handover_at"]) == local(29, "08:00")
    assert now["leads"][0]["handover"] is None  # the demo roster starts with this shift


def test_the_week_from_sunday_shows_every_shift_and_the_one_missing_deputy(night: Night) -> None:
    reply = night.client.get("/api/v1/roster", params={"from": "2026-11-29"}, headers=night.token("leader"))
    assert reply.status_code == 200, reply.text
    week = reply.json()
    assert (when(week["starts_at"]), when(week["ends_at"])) == (local(29, "00:00"), local(36, "00:00"))
    # Saturday's night shift reaches into Sunday; 14 shifts a position start in the week; Thursday's deputy is missing.
    assert len(week["shifts"]) == 2 * 15 - 1
    assert [(g["position"], g["severity"], when(g["starts_at"]), when(g["ends_at"])) for g in week["gaps"]] == [
        ("deputy", "medium", *THU_GAP)
    ]


def test_the_coming_gaps_are_the_week_ahead_from_now(night: Night) -> None:
    gaps = night.client.get("/api/v1/roster/gaps", headers=night.token("affairs")).json()
    assert (when(gaps["starts_at"]), when(gaps["ends_at"])) == (local(28, "22:00"), local(35, "22:00"))
    assert [(g["position"], when(g["starts_at"]), when(g["ends_at"])) for g in gaps["gaps"]] == [("deputy", *THU_GAP)]


@pytest.mark.parametrize("username", ["counselor_cs", "officer_cs", "dorm_e1_101"])
def test_the_roster_is_for_the_team_student_affairs_and_leaders(night: Night, username: str) -> None:
    for path in ("/api/v1/roster/now", "/api/v1/roster", "/api/v1/roster/gaps"):
        assert night.client.get(path, headers=night.token(username)).status_code == 403


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "0001-01-01", "9999-12-31"])
def test_a_bad_from_date_names_the_field(night: Night, day: str) -> None:
    reply = night.client.get("/api/v1/roster", params={"from": day}, headers=night.token("affairs"))
    assert (reply.status_code, reply.json()["field"]) == (422, "from")


# --- keeping the roster ------------------------------------------------------------------------


def test_student_affairs_fills_thursdays_missing_deputy_and_the_gap_is_gone(night: Night) -> None:
    reply = add(night, "affairs2", "deputy", *THU_GAP)
    assert reply.status_code == 201, reply.text
    shift = reply.json()
    assert (shift["user_id"], shift["position"], shift["created_by"]) == (
        night.user("affairs2").id,
        "deputy",
        night.user("affairs").id,
    )
    assert night.client.get("/api/v1/roster/gaps", headers=night.token("affairs")).json()["gaps"] == []
    assert count(night, AuditLog, AuditLog.action == "roster.shift.add", AuditLog.subject_id == str(shift["id"])) == 1


@pytest.mark.parametrize("username", ["response1", "leader", "counselor_cs"])
def test_only_student_affairs_and_admins_change_the_roster(night: Night, username: str) -> None:
    before = count(night, DutyShift)
    assert add(night, "response3", "deputy", *THU_GAP, by=username).status_code == 403
    sunday = shift_of(night, "response2", local(29, "08:00"))
    assert night.client.delete(f"/api/v1/roster/shifts/{sunday}", headers=night.token(username)).status_code == 403
    assert count(night, DutyShift) == before
    assert add(night, "response3", "deputy", *THU_GAP, by="admin").status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"ends_at": local(33, "07:00")}, 422, "ends_at"),  # before it starts
        ({"ends_at": local(34, "08:01")}, 422, "ends_at"),  # longer than 24 hours
        ({"starts_at": local(28, "08:00"), "ends_at": local(28, "20:00")}, 422, "ends_at"),  # wholly in the past
        ({"starts_at": "2026-12-03T08:00:00"}, 422, "starts_at"),  # no time zone
        ({"ends_at": "tomorrow"}, 422, "ends_at"),
        ({"starts_at": "9999-12-31T20:00:00-05:00", "ends_at": "9999-12-31T22:00:00-05:00"}, 422, "starts_at"),
        ({"position": "boss"}, 422, "position"),
        ({"user_id": "counselor_cs"}, 422, "user_id"),  # not on the response team
        ({"user_id": "affairs", "position": "lead"}, 422, "user_id"),  # student affairs may be a deputy, not a lead
        ({"user_id": 2_000_000_000}, 422, "user_id"),
        ({"user_id": 0}, 422, "user_id"),
        ({"user_id": "response1"}, 409, "starts_at"),  # overlaps his own night shift
        ({"note": "extra"}, 422, "note"),
    ],
)
def test_bad_shifts_are_refused_naming_the_field_and_nothing_is_stored(
    night: Night, change: dict[str, Any], status: int, field: str
) -> None:
    body: dict[str, Any] = {
        "user_id": night.user("response3").id,
        "position": "deputy",
        "starts_at": THU_GAP[0].isoformat(),
        "ends_at": THU_GAP[1].isoformat(),
    }
    for key, value in change.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif key == "user_id" and isinstance(value, str):
            value = night.user(value).id
        body[key] = value
    if change.get("user_id") == "response1":
        body["starts_at"], body["ends_at"] = local(29, "07:00").isoformat(), local(29, "19:00").isoformat()
    before = count(night, DutyShift)
    reply = night.client.post("/api/v1/roster/shifts", headers=night.token("affairs"), json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["field"] == field
    assert count(night, DutyShift) == before


def test_a_deactivated_member_is_not_rostered_and_their_shifts_no_longer_cover(night: Night) -> None:
    with night.sessions() as db:
        db.execute(update(User).where(User.username == "response3").values(active=False))
        db.commit()
    reply = add(night, "response3", "deputy", *THU_GAP)
    assert (reply.status_code, reply.json()["field"]) == (422, "user_id")
    now = night.client.get("/api/v1/roster/now", headers=night.token("affairs")).json()
    assert (now["deputies"], now["uncovered"]) == ([], ["deputy"])


def test_a_shift_to_come_is_deleted_one_under_way_ends_now_and_a_past_one_stays(night: Night) -> None:
    affairs = night.token("affairs")
    future = shift_of(night, "response2", local(29, "08:00"))
    tonight = shift_of(night, "response3", local(28, "20:00"))
    gone = night.client.delete(f"/api/v1/roster/shifts/{future}", headers=affairs).json()
    assert (gone["outcome"], gone["ends_at"]) == ("deleted", None)
    night.clock.set(local(28, "23:30"))
    ended = night.client.delete(f"/api/v1/roster/shifts/{tonight}", headers=affairs).json()
    assert (ended["outcome"], when(ended["ends_at"])) == ("ended", local(28, "23:30"))
    now = night.client.get("/api/v1/roster/now", headers=affairs).json()
    assert (now["deputies"], now["uncovered"]) == ([], ["deputy"])
    night.clock.set(local(29, "09:00"))
    over = night.client.delete(f"/api/v1/roster/shifts/{tonight}", headers=affairs)
    assert (over.status_code, over.json()["field"]) == (409, "shift_id")
    missing = night.client.delete("/api/v1/roster/shifts/999999", headers=affairs)
    assert (missing.status_code, missing.json()["field"]) == (404, "shift_id")
    actions = [(a.subject_id, a.detail["outcome"]) for a in audit_rows(night, "roster.shift.remove")]
    assert actions == [(str(future), "deleted"), (str(tonight), "ended")]


def audit_rows(night: Night, action: str) -> list[AuditLog]:
    with night.sessions() as db:
        return list(db.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).scalars())


# --- handing over ------------------------------------------------------------------------------


def test_the_night_lead_hands_over_at_ten_to_eight_and_the_day_lead_reads_it_at_eight(night: Night) -> None:
    mine = shift_of(night, "response1", local(28, "20:00"))
    night.clock.set(local(29, "07:50"))
    note = "  23:40 东区1号楼学生晚归已找到；请10:00回访辅导员。  "
    reply = night.client.post(f"/api/v1/roster/shifts/{mine}/handover", headers=night.token("response1"), json={"note": note})
    assert reply.status_code == 200, reply.text
    assert reply.json()["handover_note"] == note.strip()
    assert [s["user_id"] for s in reply.json()["next"]] == ids(night, "response2")
    night.clock.set(local(29, "08:00"))
    now = night.client.get("/api/v1/roster/now", headers=night.token("response2")).json()
    assert [p["user_id"] for p in now["leads"]] == ids(night, "response2")
    handed = now["leads"][0]["handover"]
    assert (handed["user_id"], handed["note"], handed["shift_id"]) == (night.user("response1").id, note.strip(), mine)
    assert now["deputies"][0]["handover"]["note"] == ""  # the night deputy wrote nothing
    assert when(now["next_handover_at"]) == local(29, "20:00")
    assert len(audit_rows(night, "roster.handover")) == 1


def test_only_the_person_on_the_shift_writes_its_handover_while_it_is_fresh(night: Night) -> None:
    mine = shift_of(night, "response1", local(28, "20:00"))
    later = shift_of(night, "response1", local(29, "20:00"))
    path = f"/api/v1/roster/shifts/{mine}/handover"

    def hand(shift_path: str, username: str, note: str = "一切正常") -> Any:
        return night.client.post(shift_path, headers=night.token(username), json={"note": note})

    assert (hand(path, "response2").status_code, hand(path, "response2").json()["field"]) == (403, "shift_id")
    assert hand(path, "affairs").status_code == 403
    assert (hand(path, "response1", "   ").status_code, hand(path, "response1", "   ").json()["field"]) == (422, "note")
    assert hand(path, "response1", "\x00").json()["field"] == "note"
    not_yet = hand(f"/api/v1/roster/shifts/{later}/handover", "response1")
    assert (not_yet.status_code, not_yet.json()["field"]) == (409, "shift_id")
    night.clock.set(local(29, "10:01"))
    assert hand(path, "response1").status_code == 409  # more than 2 hours after the shift
    assert hand("/api/v1/roster/shifts/999999/handover", "response1").status_code == 404


# --- the daily gap warning ---------------------------------------------------------------------


def pending_checks(night: Night) -> list[tuple[str, datetime]]:
    with night.sessions() as db:
        stmt = select(Deadline.subject_id, Deadline.due_at).where(Deadline.kind == GAP_CHECK, Deadline.status == "pending")
        return [(day, due) for day, due in db.execute(stmt)]


def test_at_nine_on_sunday_student_affairs_hear_of_thursdays_gap_once_and_mondays_check_is_set(night: Night) -> None:
    at(night, local(28, "22:00"))
    at(night, local(28, "22:01"))
    assert pending_checks(night) == [("2026-11-29", local(29, "09:00"))]  # one, however often the worker looks
    at(night, local(29, "08:59"))
    assert told(night, "roster.gaps") == []

    at(night, local(29, "09:00"))
    warned = told(night, "roster.gaps")
    assert sorted(name for name, _ in warned) == ["affairs", "affairs2"]
    gaps = warned[0][1]["gaps"]
    assert [(g["position"], g["severity"], when(g["starts_at"]), when(g["ends_at"])) for g in gaps] == [
        ("deputy", "medium", *THU_GAP)
    ]
    texted = {m["To"].removeprefix("+86") for m in night.twilio.messages if "值班表" in m["Body"]}
    with night.sessions() as db:
        phones = set(db.execute(select(User.phone).where(User.username.in_(["affairs", "affairs2"]))).scalars())
    assert texted == phones
    assert pending_checks(night) == [("2026-11-30", local(30, "09:00"))]
    assert [a.detail["gaps"] for a in audit_rows(night, "roster.gap_warning")] == [1]

    at(night, local(29, "09:05"))
    at(night, local(29, "23:00"))
    assert len(told(night, "roster.gaps")) == 2


def test_a_second_check_row_for_the_same_day_warns_nobody_again(night: Night) -> None:
    at(night, local(28, "22:00"))
    with night.sessions() as db:
        db.execute(
            insert(Deadline).values(
                kind=GAP_CHECK,
                subject_type="duty_roster",
                subject_id="2026-11-29",
                due_at=local(29, "09:00"),
                status="pending",
                payload={},
                created_at=local(28, "22:00"),
                late=False,
                attempts=0,
            )
        )
        db.commit()
    at(night, local(29, "09:00"))
    assert len(told(night, "roster.gaps")) == 2  # affairs and affairs2, once each
    assert pending_checks(night) == [("2026-11-30", local(30, "09:00"))]


def test_with_every_shift_filled_the_morning_check_tells_nobody_and_sets_the_next(night: Night) -> None:
    at(night, local(28, "22:00"))
    assert add(night, "response3", "deputy", *THU_GAP).status_code == 201
    at(night, local(29, "09:00"))
    assert told(night, "roster.gaps") == []
    assert count(night, AuditLog, AuditLog.action == "roster.gap_warning") == 0
    assert pending_checks(night) == [("2026-11-30", local(30, "09:00"))]


def test_a_check_missed_while_the_system_was_down_runs_at_start_and_sets_the_next_morning(night: Night) -> None:
    at(night, local(28, "22:00"))
    at(night, local(31, "14:00"))  # down from Saturday night until Tuesday afternoon
    assert len(told(night, "roster.gaps")) == 2
    with night.sessions() as db:
        fired = db.execute(select(Deadline).where(Deadline.kind == GAP_CHECK, Deadline.status == "fired")).scalar_one()
        assert fired.late
    assert pending_checks(night) == [("2026-12-02", local(32, "09:00"))]


# --- paging the on-duty team -------------------------------------------------------------------


def open_incident(night: Night, level: str) -> dict[str, Any]:
    with night.sessions() as db:
        class_id = db.execute(select(OrgUnit.id).where(OrgUnit.code == "CS2301")).scalar_one()
    body = {"type": "missing_student", "level": level, "title": "学生晚归未归、电话无法接通", "unit_id": class_id}
    reply = night.client.post("/api/v1/incidents", headers=night.token("affairs"), json=body)
    assert reply.status_code == 201, reply.text
    out: dict[str, Any] = reply.json()
    return out


def test_a_level_two_incident_at_ten_at_night_pages_exactly_the_night_lead_and_deputy(night: Night) -> None:
    incident = open_incident(night, "II")
    paged = [e for e in incident["timeline"] if e["kind"] == "paged"]
    assert len(paged) == 1
    assert sorted(paged[0]["data"]["users"]) == sorted(ids(night, "response1", "response3"))
    assert paged[0]["data"]["on_duty"] is True
    assert {name for name, _ in told(night, "incident.page")} == {"response1", "response3"}


def test_in_the_morning_the_day_team_is_paged(night: Night) -> None:
    night.clock.set(local(29, "10:00"))
    paged = next(e for e in open_incident(night, "II")["timeline"] if e["kind"] == "paged")
    assert sorted(paged["data"]["users"]) == sorted(ids(night, "response2", "response4"))


def test_a_level_four_incident_pages_nobody(night: Night) -> None:
    incident = open_incident(night, "IV")
    assert [e for e in incident["timeline"] if e["kind"] == "paged"] == []
    assert told(night, "incident.page") == []
