"""The one timeline renderer: every line of an incident in words from the catalogue, tasks by their playbook labels,
never a code or a key; a line of another day shows its date.

The night of a missing student: the incident opens at 22:10, its search task goes overdue and is done late, the
student is found after midnight, the review meeting is held a week later.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from riskcontrol.core import i18n
from riskcontrol.incidents import timeline
from riskcontrol.incidents.models import IncidentEvent
from tests.texts import faults

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPENED = datetime(2026, 11, 10, 14, 10, tzinfo=UTC)  # 22:10 in Shanghai
NAMES = timeline.Names(
    states={"reported": i18n.Both("接报", "Reported"), "on_site_control": i18n.Both("现场控制", "On-site control")},
    tasks={
        "start_search": i18n.Both("组织多渠道联系并就近查找", "Contact the student and search nearby"),
        "call_emergency": i18n.Both("拨打120/110", "Call 120/110"),
        "individual_counselling": i18n.Both("个体心理辅导", "Individual counselling"),
    },
    playbooks={"missing_student": i18n.Both("学生失联", "Missing student")},
)
# Every kind of line the incident, its recovery and its review write, with the data they write.
NIGHT: list[tuple[int, str, dict[str, Any]]] = [
    (0, "created", {"type": "missing_student", "level": 2, "state": "reported", "drill": False}),
    (0, "role", {"role": "commander", "user_id": 4, "name": "丁曦"}),
    (0, "person", {"person_id": 1, "involvement": "missing"}),
    (0, "tasks_opened", {"state": "on_site_control", "tasks": ["start_search", "call_emergency"]}),
    (0, "paged", {"users": [5, 6], "on_duty": [5], "channels": ["in_app", "sms"]}),
    (2, "transition", {"trigger": "take_control", "source": "reported", "dest": "on_site_control", "reason": None}),
    (
        5,
        "transition",
        {"trigger": "change_level", "source": "on_site_control", "dest": "on_site_control", "from_level": 3, "to_level": 2},
    ),
    (10, "task_overdue", {"task_id": 3, "code": "start_search", "step": 1, "whom": "owner", "users": [5], "late": False}),
    (21, "task_done", {"task_id": 3, "code": "start_search", "late": True, "evidence": "已找到"}),
    (22, "task_done", {"task_id": 4, "code": "call_emergency", "late": False}),
    (23, "note", {"text": "门禁记录显示该生20:47离开宿舍", "by": "马涛"}),
    (24, "delivery_failed", {"user_id": 5, "channel": "sms", "notification_id": 9, "reason": "undelivered"}),
    (25, "warning", {"source": "escalation", "source_id": "7", "level": 2}),
    (26, "merged_in", {"incident_id": 12, "reason": "同一学生"}),
    (120, "recovery_plan", {"items": ["individual_counselling", "family_session"]}),
    (150, "recovery_overdue", {"item_id": 1, "code": "individual_counselling", "told": [5]}),
    (160, "recovery_done", {"item_id": 1, "code": "individual_counselling"}),
    (170, "review_due", {"review_id": 1, "due_at": "2026-12-10T14:10:00+00:00"}),
    (180, "review_scheduled", {"review_id": 1, "scheduled_for": "2026-11-18T06:30:00+00:00", "place": "行政楼第三会议室"}),
    (190, "review_overdue", {"review_id": 1, "told": [4]}),
    (200, "review_held", {"review_id": 1, "held_at": "2026-11-18T06:30:00+00:00", "days_late": 0}),
    (210, "action_added", {"action_id": 1, "title": "查寝发现未归学生15分钟内上报", "type": "process"}),
    (220, "action_done", {"action_id": 1, "late": False}),
    (230, "action_overdue", {"action_id": 2, "told": [4]}),
    (240, "revision_proposed", {"revision_id": 1, "action_id": 1, "playbook": "missing_student", "version": 2}),
    (250, "playbook_revised", {"revision_id": 1, "action_id": 1, "playbook": "missing_student", "version": 2}),
    (260, "revision_rejected", {"revision_id": 2, "action_id": 1, "playbook": "missing_student", "version": 3}),
    (270, "revision_superseded", {"revision_id": 3, "action_id": 1, "playbook": "missing_student", "version": 3}),
    (8 * 24 * 60, "transition", {"trigger": "close", "source": "review", "dest": "closed", "reason": "复盘完毕"}),
]


def events(night: list[tuple[int, str, dict[str, Any]]] = NIGHT) -> list[IncidentEvent]:
    return [
        IncidentEvent(incident_id=1, seq=i + 1, at=OPENED + timedelta(minutes=m), kind=kind, actor_id=4, data=data)
        for i, (m, kind, data) in enumerate(night)
    ]


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_line_reads_in_words_with_no_code_or_catalogue_key(lang: str) -> None:
    entries = timeline.entries(events(), NAMES, lang=lang, tz=SHANGHAI, today=date(2026, 11, 10))
    text = "\n".join(f"{e.at_text} {e.text}" for e in entries)
    assert faults(text, lang) == [], text
    assert len({e.text for e in entries}) == len(entries)  # each kind has its own words


def test_tasks_are_named_by_their_playbook_labels() -> None:
    zh = {e.kind + str(e.seq): e.text for e in timeline.entries(events(), NAMES, lang="zh-CN", tz=SHANGHAI, today=None)}
    assert zh["task_overdue8"] == "超时未完成：组织多渠道联系并就近查找，已提醒负责人（1 人）"
    assert zh["task_done9"] == "超时完成：组织多渠道联系并就近查找"
    assert zh["task_done10"] == "完成：拨打120/110"
    assert zh["tasks_opened4"] == "进入「现场控制」，新任务：「组织多渠道联系并就近查找」和「拨打120/110」"
    assert zh["recovery_done17"] == "完成善后任务：个体心理辅导"
    assert zh["transition6"] == "接报 → 现场控制"
    assert zh["transition7"] == "级别由Ⅲ级（较大）调整为Ⅱ级（重大）"
    assert zh["playbook_revised26"] == "预案修订已采纳：学生失联第 2 版"
    en = {e.seq: e.text for e in timeline.entries(events(), NAMES, lang="en", tz=SHANGHAI, today=None)}
    assert en[9] == "Done late: Contact the student and search nearby"
    assert en[2] == "Commander: 丁曦"


def test_a_code_the_incident_does_not_name_reads_as_a_word_not_as_the_code() -> None:
    odd: list[tuple[int, str, dict[str, Any]]] = [
        (0, "task_done", {"code": "call_emergency_v2", "late": False}),
        (0, "role", {"role": "press_officer", "name": "丁曦"}),
        (0, "transition", {"source": "reported", "dest": "somewhere_new"}),
        (0, "drill_paused", {"by": "someone"}),
    ]
    for lang in i18n.LANGUAGES:
        texts = [e.text for e in timeline.entries(events(odd), NAMES, lang=lang, tz=SHANGHAI, today=None)]
        assert faults("\n".join(texts), lang) == [], texts
    zh = [e.text for e in timeline.entries(events(odd), NAMES, lang="zh-CN", tz=SHANGHAI, today=None)]
    assert zh == ["完成：一项任务", "指定指挥角色：丁曦", "接报 → 下一环节", "其他记录"]


def test_a_line_of_another_day_shows_its_date_and_a_line_of_today_only_its_time() -> None:
    entries = timeline.entries(events(), NAMES, lang="zh-CN", tz=SHANGHAI, today=date(2026, 11, 10))
    assert entries[0].at_text == "22:10"
    assert entries[-1].at_text == "11月18日 22:10"  # the close, eight days on
    past_midnight = [e.at_text for e in entries if e.at >= datetime(2026, 11, 10, 16, 0, tzinfo=UTC)]
    assert past_midnight
    assert all(text.startswith("11月") for text in past_midnight)
    english = timeline.entries(events(), NAMES, lang="en", tz=SHANGHAI, today=date(2026, 11, 18))
    assert english[0].at_text == "Nov 10, 22:10"
    assert english[-1].at_text == "22:10"


def test_a_time_inside_a_line_is_written_on_the_schools_clock() -> None:
    entries = {e.kind: e.text for e in timeline.entries(events(), NAMES, lang="zh-CN", tz=SHANGHAI, today=date(2026, 11, 10))}
    assert entries["review_due"] == "复盘会列入计划，应于 12月10日 22:10 前召开"
    assert entries["review_scheduled"] == "复盘会定于 11月18日 14:30 在行政楼第三会议室召开"
