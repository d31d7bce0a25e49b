"""Prevention rounds with a manual clock: opened each morning for every unit, signed off, overdue once, counted.

On the two-college test campus the 06:00 run on Monday 30 November opens week 49's rounds for every
room, class, college and the school. The dorm head of C1K1R1 has until Tuesday 00:00 for her weekly
fire check; at 23:59 nothing happens, at 00:00 she and the counsellor of her class are told, once.
The monitor of C1K1 signs the term's anti-fraud quiz off with the class's pass count, and the
coverage of her class, her college and the school shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import build_worker
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.deadlines import PENDING, Deadline
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.incidents import prevention
from riskcontrol.incidents.models import MeasureRound
from riskcontrol.incidents.prevention import OPEN_ROUNDS, ROUND_DUE, PreventionConfig
from riskcontrol.notify.models import Notification
from tests.factories import PASSWORD, Scene, build_campus, user
from tests.signin import post_login

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF = {
    "monitor": ("class_monitor", "C1K1"),
    "monitor2": ("class_monitor", "C1K2"),
    "psych": ("psych_member", "C1K1"),
    "dorm": ("dorm_head", "C1K1R1"),
    "counselor": ("counselor", "C1K1"),
    "officer": ("college_officer", "C1"),
    "affairs": ("student_affairs", "S"),
    "safety": ("safety_officer", "S"),
}
QUIZ = ("fraud", "anti_fraud_quiz")
FIRE_CHECK = ("fire", "dorm_fire_inspection")


def local(text: str) -> datetime:
    """A Shanghai wall-clock time in the week of 30 November 2026, as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


MONDAY_6 = local("2026-11-30 06:00")


@dataclass
class School(Scene):
    """A campus whose prevention rounds open and fall due under a manual clock."""

    cfg: PreventionConfig = field(kw_only=True)

    def unit(self, code: str) -> int:
        return self.campus[code].id

    def round_id(self, measure: tuple[str, str], unit: str) -> int:
        with self.sessions() as db:
            stmt = select(MeasureRound.id).where(
                MeasureRound.playbook_type == measure[0],
                MeasureRound.measure_code == measure[1],
                MeasureRound.unit_id == self.unit(unit),
            )
            return int(db.execute(stmt).scalar_one())

    def complete(self, round_id: int, by: str, **body: Any) -> Any:
        return self.client.post(f"/api/v1/prevention/rounds/{round_id}/complete", json=body, headers=self.as_(by))

    def rounds(self) -> int:
        with self.sessions() as db:
            return int(db.execute(select(func.count()).select_from(MeasureRound)).scalar_one())

    def told(self, username: str) -> list[Notification]:
        with self.sessions() as db:
            stmt = select(Notification).where(
                Notification.user_id == self.users[username], Notification.kind == "prevention.overdue"
            )
            return list(db.execute(stmt.order_by(Notification.id)).scalars())

    def pending(self, kind: str) -> list[Deadline]:
        with self.sessions() as db:
            stmt = select(Deadline).where(Deadline.kind == kind, Deadline.status == PENDING).order_by(Deadline.due_at)
            return list(db.execute(stmt).scalars())

    def expected_rounds(self) -> int:
        """One round per measure per unit of its kind."""
        kinds = [measure.unit_kind for measure in prevention.measures(self.cfg.library()).values()]
        with self.sessions() as db:
            per_kind = {str(k): int(n) for k, n in db.execute(select(OrgUnit.kind, func.count()).group_by(OrgUnit.kind))}
        return sum(per_kind.get(kind, 0) for kind in kinds)


@pytest.fixture
def school(client: TestClient, clock: ManualClock, sessions: sessionmaker[Session]) -> School:
    with sessions() as db:
        campus = build_campus(db)
        users = {name: user(db, name, (role, campus[unit])).id for name, (role, unit) in STAFF.items()}
        db.commit()
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    return School(client, clock, sessions, build_worker(ctx), campus, users, cfg=ctx.extras["prevention"])


def opened_monday(school: School) -> None:
    """The worker starts on Saturday night; its first morning run, missed over the weekend, runs at Monday 06:00."""
    school.worker.run_once()
    assert [d.due_at for d in school.pending(OPEN_ROUNDS)] == [local("2026-11-29 06:00")]
    assert school.rounds() == 0
    school.at(MONDAY_6)


# --- opening rounds ----------------------------------------------------------------------------


def test_the_morning_run_opens_a_round_of_every_measure_for_every_unit_of_its_kind(school: School) -> None:
    opened_monday(school)
    assert school.rounds() == school.expected_rounds() > 0
    with school.sessions() as db:
        fire = db.execute(select(MeasureRound).where(MeasureRound.measure_code == FIRE_CHECK[1])).scalars().all()
        rooms = db.execute(select(OrgUnit.id).where(OrgUnit.kind == "dorm")).scalars().all()
    assert sorted(r.unit_id for r in fire) == sorted(rooms)
    assert {(r.period, r.opens_at, r.due_at, r.status, r.owner_role) for r in fire} == {
        ("2026-W49", local("2026-11-30 00:00"), local("2026-12-01 00:00"), "open", "dorm_head")
    }
    # One pending run, tomorrow at 06:00; one overdue sweep per distinct due time, not one per round.
    assert [d.due_at for d in school.pending(OPEN_ROUNDS)] == [local("2026-12-01 06:00")]
    sweeps = school.pending(ROUND_DUE)
    with school.sessions() as db:
        due_times = set(db.execute(select(MeasureRound.due_at).distinct()).scalars())
    assert sorted(d.due_at for d in sweeps) == sorted(due_times)
    assert len(sweeps) < 10


def test_two_sweeps_and_two_runs_open_each_round_once(school: School) -> None:
    opened_monday(school)
    count, sweeps = school.rounds(), len(school.pending(ROUND_DUE))
    with school.sessions() as db:
        assert prevention.open_rounds(db, school.clock, school.cfg.library(), school.cfg.calendar) == 0
        # A second run row (two workers scheduled one each): it fires, and opens nothing.
        db.execute(
            insert(Deadline).values(
                kind=OPEN_ROUNDS,
                subject_type="prevention",
                subject_id="2026-11-30",
                due_at=MONDAY_6,
                status=PENDING,
                payload={},
                created_at=MONDAY_6,
                late=False,
                attempts=0,
            )
        )
        db.commit()
    school.at(MONDAY_6 + timedelta(minutes=1))
    assert (school.rounds(), len(school.pending(ROUND_DUE))) == (count, sweeps)
    assert len(school.pending(OPEN_ROUNDS)) == 1


def test_a_class_added_later_gets_its_rounds_at_the_next_morning_run_with_its_full_allowance(school: School) -> None:
    opened_monday(school)
    with school.sessions() as db:
        college = db.get_one(OrgUnit, school.unit("C1"))
        new = grid_service.create_unit(db, code="C1K3", kind=UnitKind.CLASS, name_zh="新班", name_en="New class", parent=college)
        db.commit()
        new_id = new.id
    school.at(local("2026-12-01 06:00"))
    with school.sessions() as db:
        quiz = db.execute(
            select(MeasureRound).where(MeasureRound.unit_id == new_id, MeasureRound.measure_code == QUIZ[1])
        ).scalar_one()
    assert (quiz.period, quiz.due_at) == ("2026-autumn", local("2026-12-15 06:00"))  # 14 days from its opening


def test_a_morning_run_held_up_by_an_outage_gives_the_allowance_from_its_scheduled_time(school: School) -> None:
    opened_monday(school)
    with school.sessions() as db:
        college = db.get_one(OrgUnit, school.unit("C1"))
        new = grid_service.create_unit(db, code="C1K3", kind=UnitKind.CLASS, name_zh="新班", name_en="New class", parent=college)
        db.commit()
        new_id = new.id
    school.at(local("2026-12-01 10:00"))  # the 06:00 run comes four hours late, after an outage
    with school.sessions() as db:
        quiz = db.execute(
            select(MeasureRound).where(MeasureRound.unit_id == new_id, MeasureRound.measure_code == QUIZ[1])
        ).scalar_one()
    assert quiz.due_at == local("2026-12-15 06:00")  # 14 days from the scheduled run, as if on time


def test_opened_on_schedule_mid_week_the_lapses_go_on_record_as_overdue_and_nobody_is_told(school: School) -> None:
    school.clock.set(local("2026-12-02 09:00"))  # Wednesday: the week's 1- and 2-day rounds are past due
    with school.sessions() as db:
        opened = prevention.open_rounds(db, school.clock, school.cfg.library(), school.cfg.calendar, on_schedule=True)
        db.commit()
    assert opened == school.expected_rounds()
    with school.sessions() as db:
        fire = db.execute(select(MeasureRound).where(MeasureRound.measure_code == FIRE_CHECK[1])).scalars().first()
        quiz = db.execute(select(MeasureRound).where(MeasureRound.measure_code == QUIZ[1])).scalars().first()
    assert fire is not None
    assert quiz is not None
    assert (fire.due_at, fire.status) == (local("2026-12-01 00:00"), "overdue")
    assert (quiz.due_at, quiz.status) == (local("2026-09-15 00:00"), "overdue")
    assert all(d.due_at > school.clock.now() for d in school.pending(ROUND_DUE))
    school.at(local("2026-12-02 09:01"))
    assert school.told("dorm") == school.told("counselor") == school.told("affairs") == []


# --- overdue -----------------------------------------------------------------------------------


def test_the_weekly_fire_check_is_overdue_at_midnight_and_the_dorm_head_and_counsellor_are_told_once(
    school: School,
) -> None:
    opened_monday(school)
    school.at(local("2026-11-30 23:59"))
    assert school.told("dorm") == school.told("counselor") == []

    school.at(local("2026-12-01 00:00"))
    mine = school.told("dorm")
    assert len(mine) == 1
    assert mine[0].channels == "in_app"
    with school.sessions() as db:
        listed = db.execute(select(MeasureRound).where(MeasureRound.id.in_(mine[0].data["rounds"]))).scalars().all()
    assert {(r.unit_id, r.playbook_type, r.measure_code) for r in listed} == {
        (school.unit("C1K1R1"), "fire", "dorm_fire_inspection"),
        (school.unit("C1K1R1"), "missing_student", "night_return_check"),
    }
    assert all(r.status == "overdue" for r in listed)
    assert "消防" in mine[0].body_zh
    # The counsellor hears of both rooms of her class (R2 has no dorm head) and of her class's rounds.
    theirs = school.told("counselor")
    assert len(theirs) == 1
    assert {school.unit("C1K1R1"), school.unit("C1K1R2"), school.unit("C1K1")} <= set(theirs[0].data["unit_ids"])
    # A college nobody answers for below the school: student affairs hears of it.
    assert school.unit("C2K1R1") in school.told("affairs")[0].data["unit_ids"]

    school.at(local("2026-12-01 00:01"))
    assert (len(school.told("dorm")), len(school.told("counselor"))) == (1, 1)
    with school.sessions() as db:
        audited = db.execute(select(AuditLog).where(AuditLog.action == "prevention.rounds.overdue")).scalars().all()
    assert len(audited) == 1
    assert school.users["dorm"] in audited[0].detail["told"]


def test_a_round_signed_off_in_time_is_not_swept(school: School) -> None:
    opened_monday(school)
    fire = school.round_id(FIRE_CHECK, "C1K1R1")
    school.clock.set(local("2026-11-30 21:00"))
    assert school.complete(fire, "dorm", evidence="灭火器、烟感、插线板逐一检查").status_code == 200
    school.at(local("2026-12-01 00:00"))
    assert [r for n in school.told("dorm") for r in n.data["rounds"]] == [
        school.round_id(("missing_student", "night_return_check"), "C1K1R1")
    ]


# --- signing off -------------------------------------------------------------------------------


def test_the_monitor_signs_the_quiz_off_with_the_pass_count_and_it_is_audited(school: School) -> None:
    opened_monday(school)
    quiz = school.round_id(QUIZ, "C1K1")
    school.clock.set(local("2026-11-30 16:20"))
    reply = school.complete(quiz, "monitor", evidence="班级群测试截图：42/42 通过", covered=42, population=42)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["status"], body["late"], body["covered"], body["population"]) == ("done", False, 42, 42)
    assert (body["done_by_name"], body["may_complete"], body["label_zh"]) == (
        "monitor",
        False,
        "全体学生反诈知识测试（须全员通过）",
    )
    assert datetime.fromisoformat(body["done_at"]) == local("2026-11-30 16:20")
    again = school.complete(quiz, "monitor", evidence="再交一次")
    assert (again.status_code, again.json()["field"]) == (409, "round_id")
    with school.sessions() as db:
        entry = db.execute(select(AuditLog).where(AuditLog.action == "prevention.round.complete")).scalar_one()
    assert (entry.actor, entry.subject_id, entry.detail["late"], entry.detail["covered"]) == ("monitor", str(quiz), False, 42)


def test_a_round_signed_off_after_its_due_time_is_recorded_as_late(school: School) -> None:
    opened_monday(school)
    fire = school.round_id(FIRE_CHECK, "C1K1R1")
    school.at(local("2026-12-01 09:30"))
    reply = school.complete(fire, "dorm", evidence="周二上午补查完毕")
    assert (reply.status_code, reply.json()["late"], reply.json()["status"]) == (200, True, "done")


@pytest.mark.parametrize(
    ("by", "measure", "unit", "status"),
    [
        ("counselor", QUIZ, "C1K1", 200),  # the counsellor signs off for the class
        ("officer", QUIZ, "C1K1", 200),
        ("affairs", QUIZ, "C1K1", 200),
        ("safety", FIRE_CHECK, "C1K1R2", 200),  # a safety officer for rooms…
        ("safety", QUIZ, "C1K1", 403),  # …but not for a class's quiz
        ("psych", QUIZ, "C1K1", 403),  # in the class, but not the owner nor above it
        ("monitor", ("fraud", "fraud_alert_talk"), "C1K1", 403),  # the counsellor's own talk
        ("monitor2", QUIZ, "C1K1", 404),  # another class: out of scope, so not even there
        ("dorm", QUIZ, "C1K1", 404),
        ("dorm", FIRE_CHECK, "C1K1R2", 404),  # another room
        ("monitor", FIRE_CHECK, "C1K1R1", 403),  # a room of her class, but a dorm head's round
    ],
)
def test_who_may_sign_a_round_off(school: School, by: str, measure: tuple[str, str], unit: str, status: int) -> None:
    opened_monday(school)
    reply = school.complete(school.round_id(measure, unit), by, evidence="已完成")
    assert reply.status_code == status, reply.text
    if status != 200:
        assert reply.json()["field"] == "round_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "evidence"),
        ({"evidence": "   "}, "evidence"),
        ({"evidence": "截图\x00"}, "evidence"),
        ({"evidence": "x" * 2001}, "evidence"),
        ({"evidence": "截图", "covered": 40}, "population"),
        ({"evidence": "截图", "population": 42}, "covered"),
        ({"evidence": "截图", "covered": 43, "population": 42}, "covered"),
        ({"evidence": "截图", "covered": "42", "population": 42}, "covered"),
        ({"evidence": "截图", "covered": 1, "population": 0}, "population"),
        ({"evidence": "截图", "surprise": True}, "surprise"),
    ],
)
def test_bad_input_names_the_field_and_the_round_stays_open(school: School, body: dict[str, Any], field: str) -> None:
    opened_monday(school)
    quiz = school.round_id(QUIZ, "C1K1")
    reply = school.complete(quiz, "monitor", **body)
    assert (reply.status_code, reply.json()["field"]) == (422, field), reply.text
    with school.sessions() as db:
        row = db.get_one(MeasureRound, quiz)
        assert (row.status, row.done_at, row.covered) == ("open", None, None)
        assert db.execute(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("prevention%"))).scalar() == 0


def test_a_round_that_does_not_exist_is_a_404_naming_the_round(school: School) -> None:
    opened_monday(school)
    reply = school.complete(2_000_000_000, "affairs", evidence="x")
    assert (reply.status_code, reply.json()["field"]) == (404, "round_id")


# --- coverage and lists ------------------------------------------------------------------------


def coverage(school: School, by: str, unit: str | None = None) -> dict[str, Any]:
    params = {"unit_id": school.unit(unit)} if unit else {}
    reply = school.client.get("/api/v1/prevention/coverage", params=params, headers=school.as_(by))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def measure_line(line: dict[str, Any], measure: tuple[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in line["measures"] if (m["playbook_type"], m["measure_code"]) == measure)
    return found


def test_coverage_counts_done_due_and_overdue_per_unit_and_measure(school: School) -> None:
    opened_monday(school)
    school.clock.set(local("2026-11-30 20:00"))
    assert (
        school.complete(school.round_id(QUIZ, "C1K1"), "monitor", evidence="截图", covered=41, population=42).status_code == 200
    )
    assert school.complete(school.round_id(FIRE_CHECK, "C1K1R1"), "dorm", evidence="已查").status_code == 200
    school.at(local("2026-12-01 08:00"))  # the rooms' other 1-day rounds are overdue now

    top = coverage(school, "monitor")  # her top unit is her class
    assert [u["unit"]["code"] for u in top["units"]] == ["C1K1"]
    assert top["periods"] == {"weekly": "2026-W49", "monthly": "2026-12", "termly": "2026-autumn", "yearly": "2026-2027"}

    cls = coverage(school, "monitor", "C1K1")
    assert [u["unit"]["code"] for u in cls["units"]] == ["C1K1R1", "C1K1R2"]
    assert [u["code"] for u in cls["trail"]] == ["C1K1"]  # she sees nothing above her class
    r1, r2 = cls["units"]
    assert (measure_line(r1, FIRE_CHECK)["tally"]["done"], measure_line(r2, FIRE_CHECK)["tally"]["overdue"]) == (1, 1)
    quiz_at_class = cls["own"]
    assert quiz_at_class["done"] == 1
    assert (quiz_at_class["covered"], quiz_at_class["population"], quiz_at_class["percent_covered"]) == (41, 42, 97)
    assert cls["whole"]["total"] == cls["own"]["total"] + r1["total"]["total"] + r2["total"]["total"]

    school_view = coverage(school, "affairs", "S")
    assert [u["unit"]["code"] for u in school_view["units"]] == ["C1", "C2"]
    c1, c2 = school_view["units"]
    assert c1["has_children"] is True
    assert (measure_line(c1, QUIZ)["tally"]["done"], measure_line(c1, QUIZ)["tally"]["due"]) == (1, 1)
    assert (measure_line(c2, QUIZ)["tally"]["done"], measure_line(c2, QUIZ)["tally"]["due"]) == (0, 2)
    fire_c1 = measure_line(c1, FIRE_CHECK)["tally"]
    assert (fire_c1["done"], fire_c1["overdue"], fire_c1["percent_done"]) == (1, 3, 25)
    assert c1["total"]["done"] == 2
    assert c1["total"]["percent_done"] == 2 * 100 // c1["total"]["total"]


def test_coverage_of_a_unit_outside_ones_scope_is_refused(school: School) -> None:
    opened_monday(school)
    reply = school.client.get(
        "/api/v1/prevention/coverage", params={"unit_id": school.unit("C2")}, headers=school.as_("counselor")
    )
    assert (reply.status_code, reply.json()["field"]) == (403, "unit_id")


def test_the_round_list_puts_overdue_first_and_filters_by_where_rounds_stand(school: School) -> None:
    opened_monday(school)
    school.at(local("2026-12-01 08:00"))
    headers = school.as_("counselor")
    listed = school.client.get("/api/v1/prevention/rounds", params={"unit_id": school.unit("C1K1")}, headers=headers).json()
    statuses = [r["status"] for r in listed]
    assert statuses == sorted(statuses, key=["overdue", "due", "done"].index)
    assert {r["unit"]["code"] for r in listed} == {"C1K1", "C1K1R1", "C1K1R2"}
    overdue = school.client.get("/api/v1/prevention/rounds", params={"status": "overdue"}, headers=headers).json()
    assert overdue
    assert all(r["status"] == "overdue" for r in overdue)
    own = school.client.get(
        "/api/v1/prevention/rounds", params={"unit_id": school.unit("C1K1"), "own": "true"}, headers=headers
    ).json()
    assert {r["unit"]["code"] for r in own} == {"C1K1"}
    quiz = next(r for r in own if r["measure_code"] == QUIZ[1])
    assert (quiz["may_complete"], quiz["evidence_label_en"]) == (True, "Screenshot showing the whole class passed")
    bad = school.client.get("/api/v1/prevention/rounds", params={"status": "late"}, headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "status")
    last_week = school.client.get("/api/v1/prevention/rounds", params={"period": "2026-W48"}, headers=headers).json()
    assert last_week == []


# --- the page ----------------------------------------------------------------------------------


def page_as(school: School, username: str) -> TestClient:
    """The test client signed in through the form, as a phone would be (the session rides in a cookie)."""
    school.client.cookies.clear()
    reply = post_login(school.client, username, PASSWORD)
    assert reply.status_code == 303, reply.text
    return school.client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def test_the_page_needs_a_session_and_the_home_page_offers_it_to_those_in_prevention(school: School) -> None:
    opened_monday(school)
    assert school.client.get("/prevention", follow_redirects=False).headers["location"] == "/login"
    assert 'href="/prevention"' in page_as(school, "monitor").get("/").text
    with school.sessions() as db:
        user(db, "duty", ("response_team", school.campus["S"]))
        db.commit()
    assert 'href="/prevention"' not in page_as(school, "duty").get("/").text


def test_the_monitor_marks_the_quiz_done_through_the_form_and_is_sent_back_to_her_class(school: School) -> None:
    opened_monday(school)
    client = page_as(school, "monitor")
    page = client.get("/prevention")
    assert page.status_code == 200
    quiz = school.round_id(QUIZ, "C1K1")
    assert f'action="/prevention/rounds/{quiz}/complete"' in page.text
    assert 'value="2"' in page.text  # the class size is offered as the population
    form = {"csrf": csrf_of(page.text), "evidence": "截图", "covered": "2", "population": "2", "back": str(school.unit("C1K1"))}
    sent = client.post(f"/prevention/rounds/{quiz}/complete", data=form, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/prevention?unit_id={school.unit('C1K1')}&done={quiz}"
    back = client.get(sent.headers["location"])
    assert "已标记完成：全体学生反诈知识测试（须全员通过）" in back.text
    assert "参与 2/2 人（100%）" in back.text


@pytest.mark.parametrize(
    ("change", "status", "shown"),
    [
        ({"evidence": ""}, 422, "请填写完成凭证"),
        ({"covered": "两个"}, 422, "人数请填写整数"),
        ({"covered": "3"}, 422, "参与人数须在 0 到应参与人数之间"),
        ({"csrf": "0" * 64}, 403, "页面已过期"),
    ],
)
def test_a_form_with_a_mistake_shows_the_page_again_with_what_was_wrong(
    school: School, change: dict[str, str], status: int, shown: str
) -> None:
    opened_monday(school)
    client = page_as(school, "monitor")
    quiz = school.round_id(QUIZ, "C1K1")
    form = {"csrf": csrf_of(client.get("/prevention").text), "evidence": "截图", "covered": "2", "population": "2"}
    form |= {"back": str(school.unit("C1K1"))} | change
    reply = client.post(f"/prevention/rounds/{quiz}/complete", data=form, follow_redirects=False)
    assert reply.status_code == status
    assert shown in reply.text
    with school.sessions() as db:
        assert db.get_one(MeasureRound, quiz).status == "open"


def test_the_page_drills_down_from_the_school_and_refuses_a_unit_outside_ones_scope(school: School) -> None:
    opened_monday(school)
    school.clock.set(local("2026-12-01 08:00"))
    client = page_as(school, "affairs")
    top = client.get("/prevention")
    assert f'href="/prevention?unit_id={school.unit("C1")}"' in top.text
    assert "pv-seg-overdue" in top.text
    assert "本周</span> 2026年第49周" in top.text
    assert "本学期</span> 2026年秋季学期" in top.text
    room = client.get("/prevention", params={"unit_id": school.unit("C1K1R1"), "lang": "en"})
    assert "Dorm fire check" in room.text
    assert room.text.count('class="pv-round pv-overdue"') >= 2
    dorm = page_as(school, "dorm")
    assert dorm.get("/prevention", params={"unit_id": school.unit("C1K1")}).status_code == 403
    with school.sessions() as db:
        denied = db.execute(select(AuditLog).where(AuditLog.action == "access.denied")).scalars().all()
    assert [(a.actor, a.subject_id) for a in denied] == [("dorm", "GET /prevention")]
