"""The recovery stage of one incident on one page (/incidents/{id}/aftercare, 善后与复盘), through its forms.

On the demo campus with a manual clock: a student of CS2301 went missing; the level Ⅱ incident was walked to closed
at 22:00 on 28 November, passing through recovery, so its recovery plan is open and its review meeting is due. The
counsellor records the one-week follow-up done with a note that only the psychological centre reads; student
affairs schedules the review meeting and records it held on 1 December; an improvement action is added and its
owner closes it with evidence; the training case is made. A stranger is sent to sign in, a student and another
college's officer find nothing, a forged form is refused, and a malformed field is a 422 that names it, with
nothing saved.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from riskcontrol.core.audit import AuditLog
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import Student
from riskcontrol.reviews.models import CaseStudy, ImprovementAction, RecoveryItem, ReviewMeeting
from tests.integration.conftest import SHANGHAI, Night
from tests.integration.test_inspections import hidden, phone
from tests.integration.test_review_meetings import open_incident, walk

NOTE = "学生诉说近期学业压力大，评估为中度焦虑，建议每周咨询一次"
HELD_DAY = datetime(2026, 12, 1, 17, 0, tzinfo=SHANGHAI)  # the afternoon after the meeting


def closed_incident(night: Night) -> int:
    """The first student of CS2301 went missing; the incident is walked through recovery to closed at 22:00."""
    with night.sessions() as db:
        cls = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
        student = db.execute(select(Student).where(Student.class_id == cls.id).order_by(Student.student_no)).scalars().first()
        assert student is not None
        student_id = student.id
    iid = open_incident(night, "II", people=[{"student_id": student_id, "involvement": "missing"}])
    walk(night, iid)
    return iid


def page(iid: int) -> str:
    return f"/incidents/{iid}/aftercare"


def submit(client: TestClient, url: str, **form: str) -> httpx2.Response:
    csrf = hidden(client.get("/").text, "csrf")  # the session's token (the sign-out form carries it on every home page)
    return client.post(url, data={"csrf": csrf, **form}, follow_redirects=False)


def item_id(night: Night, iid: int, code: str) -> int:
    with night.sessions() as db:
        return int(
            db.execute(select(RecoveryItem.id).where(RecoveryItem.incident_id == iid, RecoveryItem.code == code)).scalar_one()
        )


def meeting_of(night: Night, iid: int) -> ReviewMeeting:
    with night.sessions() as db:
        meeting = db.execute(select(ReviewMeeting).where(ReviewMeeting.incident_id == iid)).scalar_one()
        db.expunge(meeting)
        return meeting


def notes_read(night: Night) -> int:
    with night.sessions() as db:
        return int(db.execute(select(func.count()).where(AuditLog.action == "recovery.notes_read")).scalar_one())


def test_the_counsellor_records_a_follow_up_and_only_the_psych_centre_reads_its_note(night: Night) -> None:
    iid = closed_incident(night)
    counsellor = phone(night, "counselor_cs")
    assert f'href="{page(iid)}"' in counsellor.get(f"/incidents/{iid}").text  # the link in the incident page's header
    before = counsellor.get(page(iid))
    assert before.status_code == 200
    assert "<title>善后与复盘" in before.text
    assert "学生甲（失联）" in before.text  # a stand-in name, as the review report shows it
    assert "班级/宿舍（团体）" in before.text
    assert "一周随访" in before.text
    assert "进行中" in before.text
    follow_up = item_id(night, iid, "follow_up_1w")
    assert f'action="{page(iid)}/recovery/{follow_up}/done"' in before.text
    assert "记录（仅心理中心可见）" in before.text

    done = submit(counsellor, f"{page(iid)}/recovery/{follow_up}/done", note=NOTE)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{page(iid)}?done=recovery"
    after = counsellor.get(done.headers["location"]).text
    assert "已记录完成。" in after
    assert "已有记录（仅心理中心可见）" in after
    assert f'action="{page(iid)}/recovery/{follow_up}/done"' not in after
    assert NOTE not in after
    assert NOTE not in phone(night, "affairs").get(page(iid)).text

    read = notes_read(night)
    psych = phone(night, "psych").get(page(iid)).text
    assert NOTE in psych
    assert notes_read(night) == read + 1  # the psych centre's read is audited, as on the API

    again = submit(counsellor, f"{page(iid)}/recovery/{follow_up}/done", note="再记一次")
    assert again.status_code == 409
    assert "这项善后任务已经完成了。" in again.text  # the service's refusal, in the page's language
    with night.sessions() as db:
        item = db.get(RecoveryItem, follow_up)
        assert item is not None
        assert item.note == NOTE


def test_student_affairs_schedules_the_meeting_and_records_it_held_through_the_forms(night: Night) -> None:
    iid = closed_incident(night)
    affairs = phone(night, "affairs")
    rid = meeting_of(night, iid).id
    shown = affairs.get(page(iid)).text
    assert "待召开" in shown
    assert "12月28日 22:00" in shown  # due 30 days after closing, on the school's clock
    assert f'action="{page(iid)}/reviews/{rid}/schedule"' in shown
    assert f'action="{page(iid)}/reviews/{rid}/held"' in shown
    counsellor = phone(night, "counselor_cs").get(page(iid)).text
    assert "待召开" in counsellor
    assert f'action="{page(iid)}/reviews/{rid}/schedule"' not in counsellor  # only those who record reviews
    assert f'href="{page(iid)}"' in phone(night, "leader").get("/reviews").text  # each row of the leaders' reading

    for when in ("12月1日下午三点", "0001-01-01T00:00", "9999-12-31T23:59"):
        bad = submit(affairs, f"{page(iid)}/reviews/{rid}/schedule", scheduled_for=when, place="行政楼会议室")
        assert bad.status_code == 422
        assert "会议时间格式不正确" in bad.text
        assert 'value="行政楼会议室"' in bad.text  # what was typed is kept
    assert (meeting_of(night, iid).status, meeting_of(night, iid).scheduled_for) == ("due", None)

    scheduled = submit(affairs, f"{page(iid)}/reviews/{rid}/schedule", scheduled_for="2026-12-01T15:00", place="行政楼会议室")
    assert scheduled.status_code == 303, scheduled.text
    meeting = meeting_of(night, iid)
    assert (meeting.status, meeting.scheduled_for) == ("scheduled", datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
    assert "12月1日 15:00 · 行政楼会议室" in affairs.get(scheduled.headers["location"]).text

    # Not yet held: the service refuses, and the page names the field.
    early = submit(
        affairs,
        f"{page(iid)}/reviews/{rid}/held",
        held_at="2026-12-01T15:00",
        attendees="王老师 / 辅导员",
        minutes="复盘了接报、核实、家校沟通各环节。",
        conclusions="夜间查寝与门禁数据联动需加快",
    )
    assert early.status_code == 422
    assert "复盘会开完后才能记录，召开时间不能晚于现在。" in early.text  # the service's refusal, in the page's language
    assert meeting_of(night, iid).status == "scheduled"

    night.clock.set(HELD_DAY.astimezone(UTC))
    affairs = phone(night, "affairs")  # last night's session has run out
    form = {
        "held_at": "2026-12-01T15:00",
        "attendees": "王老师 / 辅导员\n学生家长 ／ 家属代表\n\n保卫处",
        "minutes": "复盘了接报、核实、家校沟通各环节。",
        "conclusions": "夜间查寝与门禁数据联动需加快\n\n辅导员夜间联系方式需更新\n",
    }
    for when in ("2026-12-01T15", "0001-01-01T00:00", "9999-12-31T23:59"):
        malformed = submit(affairs, f"{page(iid)}/reviews/{rid}/held", **(form | {"held_at": when}))
        assert malformed.status_code == 422
        assert "召开时间格式不正确" in malformed.text
    no_name = submit(affairs, f"{page(iid)}/reviews/{rid}/held", **(form | {"attendees": "王老师 / 辅导员\n / 家属"}))
    assert no_name.status_code == 422
    assert "参会人员第 2 行" in no_name.text
    assert meeting_of(night, iid).status == "scheduled"

    held = submit(affairs, f"{page(iid)}/reviews/{rid}/held", **form)
    assert held.status_code == 303, held.text
    assert held.headers["location"] == f"{page(iid)}?done=held"
    meeting = meeting_of(night, iid)
    assert meeting.status == "held"
    assert meeting.held_at == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert meeting.attendees == [
        {"user_id": None, "name": "王老师", "role": "辅导员"},
        {"user_id": None, "name": "学生家长", "role": "家属代表"},
        {"user_id": None, "name": "保卫处", "role": ""},
    ]
    assert meeting.conclusions == ["夜间查寝与门禁数据联动需加快", "辅导员夜间联系方式需更新"]
    shown = affairs.get(held.headers["location"]).text
    assert "会议记录已保存。" in shown
    assert "已召开" in shown
    assert "王老师 / 辅导员" in shown
    assert "辅导员夜间联系方式需更新" in shown
    assert f'action="{page(iid)}/reviews/{rid}/held"' not in shown

    # Closed and reviewed: student affairs makes the training case from the page and lands on it.
    assert f'action="{page(iid)}/case"' in shown
    assert f'action="{page(iid)}/case"' not in phone(night, "counselor_cs").get(page(iid)).text
    made = submit(affairs, f"{page(iid)}/case")
    assert made.status_code == 303, made.text
    with night.sessions() as db:
        case_id = db.execute(select(CaseStudy.id).where(CaseStudy.incident_id == iid)).scalar_one()
    assert made.headers["location"] == f"/cases/{case_id}"
    assert f'href="/cases/{case_id}"' in affairs.get(page(iid)).text
    assert submit(affairs, f"{page(iid)}/case").status_code == 409

    english = affairs.get(page(iid) + "?lang=en").text
    assert "Aftercare and review" in english
    assert "Review meeting" in english
    assert "Held at" in english


def test_an_action_is_added_by_student_affairs_and_closed_by_its_owner_with_evidence(night: Night) -> None:
    still_open = open_incident(night, "II")
    affairs = phone(night, "affairs")
    early = submit(affairs, f"{page(still_open)}/actions", title="x", type="rule", owner="safety", due="2026-12-20", detail="")
    assert early.status_code == 409
    assert "整改措施来自已关闭事件的复盘，请先关闭事件。" in early.text

    iid = closed_incident(night)
    action = {"title": "宿舍门禁与查寝名单每晚自动比对", "detail": "保卫处与学生处共建", "type": "facility", "due": "2026-12-20"}
    unknown = submit(affairs, f"{page(iid)}/actions", **(action | {"owner": "nobody_here"}))
    assert unknown.status_code == 422
    assert "负责人：没有用户名为“nobody_here”的用户。" in unknown.text
    for day in ("2026-12-40", "0001-01-01", "9999-12-31"):
        bad_day = submit(affairs, f"{page(iid)}/actions", **(action | {"owner": "safety", "due": day}))
        assert bad_day.status_code == 422
        assert "完成期限格式不正确" in bad_day.text
    with night.sessions() as db:
        assert db.execute(select(func.count()).where(ImprovementAction.incident_id == iid)).scalar_one() == 0

    added = submit(affairs, f"{page(iid)}/actions", **(action | {"owner": "safety"}))
    assert added.status_code == 303, added.text
    assert added.headers["location"] == f"{page(iid)}?done=action"
    safety = night.user("safety").id
    with night.sessions() as db:
        row = db.execute(select(ImprovementAction).where(ImprovementAction.incident_id == iid)).scalar_one()
        aid = row.id
        assert row.due_at == datetime(2026, 12, 20, 23, 59, tzinfo=SHANGHAI)
        assert (row.type, row.owner_user_id, row.status) == ("facility", safety, "open")

    counsellor = phone(night, "counselor_cs").get(page(iid)).text
    assert "宿舍门禁与查寝名单每晚自动比对" in counsellor
    assert f'action="{page(iid)}/actions/{aid}/done"' not in counsellor  # neither its owner nor a recorder
    owner = phone(night, "safety")
    assert f'action="{page(iid)}/actions/{aid}/done"' in owner.get(page(iid)).text
    empty = submit(owner, f"{page(iid)}/actions/{aid}/done", evidence="  ")
    assert empty.status_code == 422
    assert "请填写佐证。" in empty.text
    closed = submit(owner, f"{page(iid)}/actions/{aid}/done", evidence="门禁系统已与查寝名单对接，每晚23:00自动比对")
    assert closed.status_code == 303, closed.text
    shown = owner.get(closed.headers["location"]).text
    assert "整改措施已关闭。" in shown
    assert "门禁系统已与查寝名单对接，每晚23:00自动比对" in shown
    assert "已完成" in shown
    with night.sessions() as db:
        done = db.get(ImprovementAction, aid)
        assert done is not None
        assert (done.status, done.done_by) == ("done", safety)


def test_strangers_students_and_other_colleges_find_nothing_and_a_forged_form_is_refused(night: Night) -> None:
    iid = closed_incident(night)
    follow_up = item_id(night, iid, "follow_up_1w")
    anonymous = TestClient(night.app)
    away = anonymous.get(page(iid), follow_redirects=False)
    assert (away.status_code, away.headers["location"]) == (303, "/login")
    posted = anonymous.post(f"{page(iid)}/recovery/{follow_up}/done", data={"csrf": "x"}, follow_redirects=False)
    assert (posted.status_code, posted.headers["location"]) == (303, "/login")

    for username in ("monitor_cs2301", "officer_me"):
        visitor = phone(night, username)
        assert visitor.get(page(iid)).status_code == 404, username
        assert submit(visitor, f"{page(iid)}/recovery/{follow_up}/done", note="x").status_code == 404, username
    with night.sessions() as db:
        denied = db.execute(select(AuditLog.subject_id).where(AuditLog.action == "access.denied")).scalars().all()
    assert f"GET {page(iid)}" in denied  # another college's look is audited, as on the API
    assert phone(night, "affairs").get(page(999_999)).status_code == 404

    counsellor = phone(night, "counselor_cs")
    forged = counsellor.post(
        f"{page(iid)}/recovery/{follow_up}/done", data={"csrf": "0" * 64, "note": NOTE}, follow_redirects=False
    )
    assert forged.status_code == 403
    with night.sessions() as db:
        item = db.get(RecoveryItem, follow_up)
        assert item is not None
        assert (item.status, item.note) == ("open", "")
    nul = submit(counsellor, f"{page(iid)}/recovery/{follow_up}/done", note="a\x00b")
    assert nul.status_code == 422

    english = counsellor.get(page(iid) + "?lang=en")
    assert english.status_code == 200
    assert "Aftercare and review" in english.text
    assert "Recovery plan" in english.text
    assert "Student A (missing)" in english.text
    assert "Follow-up after one week" in english.text
    assert english.cookies.get("lang") == "en"


def test_before_recovery_the_page_says_what_is_still_to_come(night: Night) -> None:
    iid = open_incident(night, "II")
    affairs = phone(night, "affairs")
    shown = affairs.get(page(iid)).text
    assert "事件尚未进入善后恢复阶段，暂无善后计划。" in shown
    assert "Ⅰ–Ⅲ级事件结案后才会生成复盘会。" in shown
    assert "暂无整改措施。" in shown
    assert "事件结案后才能添加整改措施。" in shown
    assert "Ⅱ 重大" in shown
    assert "接报" in shown  # the SOP state, in words
    assert f'href="/api/v1/incidents/{iid}/review-report.pdf?lang=zh"' in shown
    with night.sessions() as db:
        assert db.execute(select(func.count()).where(ReviewMeeting.incident_id == iid)).scalar_one() == 0
