"""The gravest real cases on the demo campus, on a manual clock with the real Twilio SDK: the night
check (a roommate not back and not answering), incidents from observations below red, incidents a
counsellor confirms, the psychological centre beside the counsellor on orange, and "other"."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.incidents.models import Incident
from riskcontrol.settings import PROJECT_ROOT
from tests.integration.conftest import SHANGHAI, TEN_PM, Night, a_night, file_observation


def at(night: Night, hours_after_ten_pm: float) -> None:
    """Move the clock to 22:00 plus that many hours and let the worker do one round."""
    night.clock.set(TEN_PM + timedelta(hours=hours_after_ten_pm))
    night.worker.run_once()


def texts_to(night: Night, username: str) -> list[str]:
    phone = f"+86{night.user(username).phone}"
    return [m["Body"] for m in night.twilio.messages if m["To"] == phone]


def warning_texts(night: Night, username: str) -> list[str]:
    """The texts about the escalation, not those about the incident it opened (each links its page)."""
    return [body for body in texts_to(night, username) if "/incidents/" not in body]


def inbox(night: Night, username: str) -> list[dict[str, Any]]:
    reply = night.client.get("/api/v1/notify/inbox", headers=night.token(username))
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()
    return items


def incidents_from(night: Night, escalation_id: int) -> list[Incident]:
    with night.sessions() as db:
        found = db.execute(select(Incident).where(Incident.source == "escalation", Incident.source_id == str(escalation_id)))
        return list(found.scalars())


def local(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(SHANGHAI).strftime("%H:%M")


def test_at_23_10_a_roommate_not_back_and_not_answering_on_medication_is_red_opens_the_incident_and_the_ladder_climbs(
    night: Night,
) -> None:
    at(night, 70 / 60)  # 23:10
    filed = file_observation(night, ("overnight_absence", "missing_contact", "psychiatric_medication"))
    assert filed["level"] == "red"
    night.worker.run_once()
    # The counsellor is told at once, in the app and by SMS.
    assert any(n["data"].get("escalation_id") == filed["escalation_id"] for n in inbox(night, "counselor_cs"))
    assert len(texts_to(night, "counselor_cs")) == 1  # the 23:00 rung, already past, does not text her twice
    [incident] = incidents_from(night, filed["escalation_id"])
    assert (incident.type, incident.level) == ("missing_student", 3)

    at(night, 72 / 60)  # 23:12: the counsellor acknowledges; the climb stops, the night ladder does not
    ack = night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=night.token("counselor_cs"))
    assert ack.status_code == 200, ack.text
    officer_texts = len(warning_texts(night, "officer_cs"))
    at(night, 1.25)  # 23:15, when the red chain would have told the college
    assert len(warning_texts(night, "officer_cs")) == officer_texts
    at(night, 1.5)  # 23:30: the college is told by the ladder
    assert len(warning_texts(night, "officer_cs")) == officer_texts + 1
    assert "查寝未归·23:30" in warning_texts(night, "officer_cs")[-1]
    at(night, 2)  # 24:00: the head of student affairs
    assert any("查寝未归·00:00" in body for body in texts_to(night, "affairs"))
    detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=night.token("affairs")).json()
    rungs = [(local(e["at"]), e["detail"]["grid_level"]) for e in detail["timeline"] if e["kind"] == "night_rung"]
    assert {("23:30", "college"), ("00:00", "school")} <= set(rungs)


def test_once_the_student_is_found_the_ladder_stops(night: Night) -> None:
    at(night, 40 / 60)  # 22:40, the night check
    filed = file_observation(night, ("overnight_absence",))
    assert filed["level"] == "yellow"
    night.worker.run_once()
    assert texts_to(night, "counselor_cs") == []  # yellow tells the counsellor in the app only ...
    at(night, 1)  # ... until the 23:00 rung, which texts her
    assert len(texts_to(night, "counselor_cs")) == 1
    found = night.client.post(
        f"/api/v1/escalations/{filed['escalation_id']}/resolve",
        headers=night.token("counselor_cs"),
        json={"outcome": "23:20 已联系到，在网吧，已返回寝室"},
    )
    assert found.status_code == 200, found.text
    at(night, 1.5)
    at(night, 2)
    assert texts_to(night, "officer_cs") == []
    assert texts_to(night, "affairs") == []


def test_fresh_cuts_are_orange_tell_the_psych_centre_at_once_and_open_the_psych_crisis_incident(night: Night) -> None:
    filed = file_observation(night, ("self_harm",))
    assert filed["level"] == "orange"
    night.worker.run_once()
    for username in ("counselor_cs", "psych"):
        assert any(n["data"].get("escalation_id") == filed["escalation_id"] for n in inbox(night, username)), username
    [incident] = incidents_from(night, filed["escalation_id"])
    assert (incident.type, incident.level) == ("psych_crisis", 3)


def test_a_student_unreachable_by_day_asks_the_counsellor_to_confirm_the_incident(night: Night) -> None:
    at(night, 16)  # 14:00 the next day
    filed = file_observation(night, ("missing_contact",))
    assert filed["level"] == "orange"
    night.worker.run_once()
    assert incidents_from(night, filed["escalation_id"]) == []
    pending = night.client.get("/api/v1/incident-proposals", headers=night.token("counselor_cs"))
    assert pending.status_code == 200, pending.text
    [proposal] = [p for p in pending.json() if p["source_id"] == str(filed["escalation_id"])]
    assert (proposal["type"], proposal["level"], proposal["status"]) == ("missing_student", 3, "pending")
    assert any(n["data"].get("type") == "missing_student" for n in inbox(night, "counselor_cs"))
    # Students' own grid roles do not see it, and an outsider cannot decide it.
    assert night.client.get("/api/v1/incident-proposals", headers=night.token("dorm_e1_101")).status_code == 403
    url = f"/api/v1/incident-proposals/{proposal['id']}/decision"
    refused = night.client.post(url, headers=night.token("counselor_cs"), json={"open": False})
    assert (refused.status_code, refused.json()["field"]) == (422, "reason")
    opened = night.client.post(url, headers=night.token("counselor_cs"), json={"open": True})
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "opened"
    [incident] = incidents_from(night, filed["escalation_id"])
    assert (incident.type, incident.level, opened.json()["incident_id"]) == ("missing_student", 3, incident.id)
    again = night.client.post(url, headers=night.token("counselor_cs"), json={"open": False, "reason": "已找到"})
    assert again.status_code == 409


def test_other_needs_the_filers_words_and_is_graded_within_four_hours(night: Night) -> None:
    reply = night.client.post(
        "/api/v1/observations",
        headers=night.token("dorm_e1_101"),
        json={
            "client_id": "other-note-1",
            "unit_id": night_room(night),
            "checklist": ["other"],
            "observed_at": TEN_PM.isoformat(),
        },
    )
    assert (reply.status_code, reply.json()["field"]) == (422, "note")
    filed = file_observation(night, ("other",), client_id="other-note-2")
    assert filed["level"] == "yellow"
    night.worker.run_once()
    detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=night.token("counselor_cs")).json()
    assert datetime.fromisoformat(detail["step_due_at"]) == TEN_PM + timedelta(hours=4)  # not 09:00 the next working day


def night_room(night: Night) -> int:
    from riskcontrol.grid.models import OrgUnit

    with night.sessions() as db:
        return db.execute(select(OrgUnit.id).where(OrgUnit.code == "E1-101")).scalar_one()


def test_a_yellow_report_waits_past_a_holiday_in_the_schools_calendar(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    # A school closure on Monday 30 November: a yellow report on Saturday night is due Tuesday 09:00.
    sop = tmp_path / "sop"
    shutil.copytree(PROJECT_ROOT / "sop", sop)
    calendar = (sop / "calendar.yaml").read_text(encoding="utf-8")
    (sop / "calendar.yaml").write_text(calendar.replace("    holidays:\n", "    holidays:\n      - 2026-11-30\n", 1), "utf-8")
    with a_night(sessions, database_url, tmp_path, sop_dir=sop) as night:
        filed = file_observation(night, ("negative_speech",))
        assert filed["level"] == "yellow"
        night.worker.run_once()
        detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=night.token("counselor_cs")).json()
    assert datetime.fromisoformat(detail["step_due_at"]) == datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)


def test_a_counsellor_on_leave_names_a_cover_and_the_chain_tells_the_cover(night: Night) -> None:
    cover = night.user("counselor_cs_2")
    body = {"cover_user_id": cover.id, "starts_on": "2026-11-28", "ends_on": "2026-12-02", "reason": "病假"}
    named = night.client.post("/api/v1/covers", headers=night.token("counselor_cs"), json=body)
    assert named.status_code == 201, named.text
    for wrong, field in (
        ({"ends_on": "2026-11-27"}, "ends_on"),
        ({"cover_user_id": night.user("dorm_e1_101").id}, "cover_user_id"),
    ):
        refused = night.client.post("/api/v1/covers", headers=night.token("counselor_cs"), json=body | wrong)
        assert (refused.status_code, refused.json()["field"]) == (422, field)
    assert night.client.post("/api/v1/covers", headers=night.token("dorm_e1_101"), json=body).status_code == 403

    filed = file_observation(night, ("suicide_plan",))
    night.worker.run_once()
    detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=night.token("officer_cs")).json()
    told = {e["user_id"] for e in detail["timeline"] if e["kind"] == "notified" and e["step"] == 0}
    assert cover.id in told
    assert night.user("counselor_cs").id not in told
    assert f"+86{cover.phone}" in [m["To"] for m in night.twilio.messages]
    # The cover may acknowledge, and does.
    ack = night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=night.token("counselor_cs_2"))
    assert ack.status_code == 200, ack.text


def test_after_the_cover_ends_the_counsellor_is_told_again(night: Night) -> None:
    cover = night.user("counselor_cs_2")
    body = {"cover_user_id": cover.id, "starts_on": "2026-11-20", "ends_on": "2026-11-28", "reason": "出差"}
    assert night.client.post("/api/v1/covers", headers=night.token("counselor_cs"), json=body).status_code == 201
    at(night, 3)  # 01:00 on 29 November: the cover is over
    filed = file_observation(night, ("suicide_plan",))
    night.worker.run_once()
    detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=night.token("officer_cs")).json()
    told = {e["user_id"] for e in detail["timeline"] if e["kind"] == "notified" and e["step"] == 0}
    assert night.user("counselor_cs").id in told
    assert cover.id not in told
