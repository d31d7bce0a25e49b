"""The review report of the night's missing-student incident, as the leaders read it in PDF.

The response team opens a level Ⅱ 失联 incident at 22:00, takes control at 22:03, lets the 22:10
search step go overdue, then walks every trigger to closed ticking tasks a minute apart from
22:31; the review meeting is held. The PDF's text shows every section, every task with its
verdict, the notifications, and a CJK font embedded; a leader sees 学生甲 where a counsellor
sees the student's name.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance
from sqlalchemy import select

from riskcontrol.core.audit import AuditLog
from riskcontrol.incidents.models import IncidentPerson, IncidentTask
from riskcontrol.people import auth
from riskcontrol.reviews import report, report_rules
from riskcontrol.reviews.models import ReviewMeeting
from tests.integration.conftest import SHANGHAI, Night, file_red_observation
from tests.integration.test_api_fuzz import fuzz
from tests.integration.test_incident_walk import open_missing_student

HEADINGS = (
    "一、事件概况",
    "二、处置时间线",
    "三、SOP 执行情况",
    "四、报告时限",
    "五、预警与通知",
    "六、响应指标",
    "七、复盘会",
    "八、改进措施",
    "九、响应时间图",
)
WALK = ("verify", "report_to_leaders", "activate_plan", "coordinate", "publish", "stabilise", "start_review", "close")


def walk_the_night(night: Night, **extra: Any) -> int:
    """22:00 open (Ⅱ), 22:03 take control, the on-site step overdue until 22:31, then every step to closed."""
    team = night.token("response1")
    night.at("22:00")
    incident = open_missing_student(night, team, commander_id=night.user("leader").id, **extra)
    iid = int(incident["id"])
    night.at("22:02")
    dispatch = next(t for t in incident["tasks"] if t["code"] == "dispatch")
    sent = night.client.post(
        f"/api/v1/incidents/{iid}/tasks/{dispatch['id']}/complete", headers=team, json={"evidence": "已派出"}
    )
    assert sent.status_code == 200, sent.text
    night.at("22:03")
    moved = night.client.post(f"/api/v1/incidents/{iid}/transitions/take_control", headers=team, json={"confirm": True})
    assert moved.status_code == 200, moved.text
    for hh_mm in ("22:10", "22:15", "22:20", "22:30"):
        night.at(hh_mm)
    minute = 31
    for trigger in (None, *WALK):
        if trigger is not None:
            reply = night.client.post(f"/api/v1/incidents/{iid}/transitions/{trigger}", headers=team, json={"confirm": True})
            assert reply.status_code == 200, (trigger, reply.text)
        current = night.client.get(f"/api/v1/incidents/{iid}", headers=team).json()
        for task in current["tasks"]:
            if task["status"] == "open" and task["state"] == current["state"]:
                night.at(f"{22 + minute // 60}:{minute % 60:02d}")
                minute += 1
                done = night.client.post(
                    f"/api/v1/incidents/{iid}/tasks/{task['id']}/complete", headers=team, json={"evidence": "已完成"}
                )
                assert done.status_code == 200, done.text
    with night.sessions() as db:
        meeting = db.execute(select(ReviewMeeting).where(ReviewMeeting.incident_id == iid)).scalar_one()
        meeting_id = meeting.id
    held = night.client.post(
        f"/api/v1/reviews/{meeting_id}/held",
        headers=team,
        json={
            "held_at": night.clock.now().isoformat(),
            "attendees": [
                {"user_id": night.user("leader").id, "name": "校领导", "role": "指挥者"},
                {"name": "保卫处", "role": "部门"},
            ],
            "minutes": "查寝记录未及时上报，现场查找晚于时限。",
            "conclusions": ["查寝结果当晚22:30前上报", "现场查找10分钟内启动"],
        },
    )
    assert held.status_code == 200, held.text
    return iid


def pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def walked(night: Night) -> int:
    return walk_the_night(night)


def test_the_review_pdf_shows_every_section_task_verdict_and_notification(night: Night, walked: int, tmp_path: Path) -> None:
    reply = night.client.get(f"/api/v1/incidents/{walked}/review-report.pdf", headers=night.token("leader"))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/pdf"
    text = pdf_text(reply.content, tmp_path, "review")
    flat = re.sub(r"\s+", " ", text)
    for heading in HEADINGS:
        assert heading in flat, heading
    assert "学生失联" in flat
    assert "Ⅱ级" in flat
    assert "【演练】" not in flat
    with night.sessions() as db:
        tasks = list(db.execute(select(IncidentTask).where(IncidentTask.incident_id == walked)).scalars())
    assert len(tasks) >= 15
    lines = text.splitlines()
    for task in tasks:
        expected = report_rules.verdict(task.due_at, task.done_at, night.clock.now()).text("zh")
        label = task.label_zh[:8]
        rows = [line for line in lines if label in line and ("按时" in line or "超时" in line or "未完成" in line)]
        assert rows, task.code
        assert any(expected in line for line in rows), (task.code, expected, rows)
    late = next(t for t in tasks if t.code == "start_search")
    assert late.done_at is not None
    assert f"超时 {report_rules.minutes_between(late.due_at, late.done_at)}分钟" in text  # 22:10 due, done 22:31
    # 四、报告时限: the 15-minute phone report to the leader, late by how much.
    reporting = flat.split("四、报告时限")[1].split("五、预警与通知")[0]
    assert "电话报告学校分管领导" in reporting
    assert "15分钟" in reporting
    assert "超时" in reporting
    # 五、预警与通知: the paging of the on-duty team and the overdue reminders, by in-app and SMS, in words.
    warning = flat.split("五、预警与通知")[1].split("六、响应指标")[0]
    assert "站内消息 已送达" in warning
    assert "短信 " in warning
    for code in ("in_app", "sms:", "sent", "published", "delivered"):
        assert code not in warning
    assert "【Ⅱ级】" in warning
    figures = flat.split("六、响应指标")[1].split("七、复盘会")[0]
    assert "到场控制用时 3分钟" in figures
    assert "查寝结果当晚22:30前上报" in flat
    actions = flat.split("八、改进措施")[1].split("九、响应时间图")[0]
    assert "暂无" in actions

    fonts = subprocess.run(["pdffonts", str(tmp_path / "review.pdf")], check=True, capture_output=True, text=True).stdout
    cjk = [line for line in fonts.splitlines() if re.search(r"CJK|WenQuanYi|Micro", line)]
    assert cjk, fonts
    assert all(" yes " in line.split("CID")[-1] or "yes yes" in line for line in cjk), fonts

    pages = tmp_path / "page"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(tmp_path / "review.pdf"), str(pages)], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) == 2


def test_a_leader_reads_student_a_where_the_counsellor_reads_the_name(night: Night, walked: int, tmp_path: Path) -> None:
    with night.sessions() as db:
        name = db.execute(select(IncidentPerson.name).where(IncidentPerson.incident_id == walked)).scalar_one()
    # A leader not in command of this incident ("leader" commands it, and so reads the names).
    leader = night.client.get(f"/api/v1/incidents/{walked}/review-report.html", headers=night.token("leader2")).text
    assert "学生甲" in leader
    assert name not in leader
    counsellor = night.client.get(f"/api/v1/incidents/{walked}/review-report.pdf", headers=night.token("counselor_cs"))
    assert counsellor.status_code == 200
    assert name in pdf_text(counsellor.content, tmp_path, "counsellor")
    with night.sessions() as db:
        reads = db.execute(select(AuditLog.actor).where(AuditLog.action == "review_report.read")).scalars().all()
    assert reads == ["counselor_cs"]


def test_the_service_renders_the_same_report_in_english(night: Night, walked: int, tmp_path: Path) -> None:
    token = night.token("leader2")["Authorization"].removeprefix("Bearer ")
    with night.sessions() as db:
        principal = auth.load_principal(db, night.clock, token)
        assert principal is not None
        pdf = report.pdf(db, night.clock, principal, walked, tz=SHANGHAI, lang="en")
    text = re.sub(r"\s+", " ", pdf_text(pdf, tmp_path, "en"))
    for heading in ("1. Summary", "3. SOP compliance", "4. Reporting deadlines", "8. Improvement actions", "None yet"):
        assert heading in text
    assert "Student A" in text
    assert "Late by" in text


def test_a_drill_is_marked_and_a_stranger_cannot_read_it(night: Night) -> None:
    night.at("22:00")
    incident = open_missing_student(night, night.token("response1"), drill=True)
    reply = night.client.get(f"/api/v1/incidents/{incident['id']}/review-report.html", headers=night.token("leader"))
    page = reply.text
    assert page.count("【演练】") >= 2
    # A self-contained document: no script may run in it, nothing is fetched, it is not sniffed or framed.
    policy = reply.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert (reply.headers["x-content-type-options"], reply.headers["x-frame-options"]) == ("nosniff", "DENY")
    outsider = night.client.get(f"/api/v1/incidents/{incident['id']}/review-report.pdf", headers=night.token("dorm_e1_101"))
    assert outsider.status_code in (403, 404)


def test_an_incident_from_a_red_observation_shows_its_escalation_and_the_time_to_acknowledge(
    night: Night, tmp_path: Path
) -> None:
    filed = file_red_observation(night)
    night.at("22:00")
    team = night.token("response1")
    incident = night.client.get("/api/v1/incidents", headers=team).json()[0]
    assert incident["source"] == "escalation"
    night.at("22:04")
    ack = night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=night.token("counselor_cs"))
    assert ack.status_code == 200, ack.text
    reply = night.client.get(f"/api/v1/incidents/{incident['id']}/review-report.pdf", headers=night.token("leader"))
    assert reply.status_code == 200, reply.text
    flat = re.sub(r"\s+", " ", pdf_text(reply.content, tmp_path, "red"))
    warning = flat.split("五、预警与通知")[1].split("六、响应指标")[0]
    assert f"来源预警 #{filed['escalation_id']}" in warning
    assert "确认 22:04" in warning  # the counsellor's acknowledgement, against her notification
    figures = flat.split("六、响应指标")[1].split("七、复盘会")[0]
    assert "确认用时 4分钟" in figures
    assert f"自预警发出至{night.user('counselor_cs').name}确认" in figures
    assert "暂无" in flat.split("七、复盘会")[1].split("八、改进措施")[0]  # not reviewed yet


def test_the_report_routes_answer_fuzzed_input_without_a_server_error(night: Night) -> None:
    night.at("22:00")
    open_missing_student(night, night.token("response1"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", night.app)
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok) and "review-report" in r.ok().path]
    assert len(operations) == 2
    for operation in operations:
        fuzz(operation, night.token("leader"), [allow_header_conformance, positive_data_acceptance])
