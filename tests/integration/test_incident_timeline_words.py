"""The incident page's timeline comes from the API already in words, by the same renderer as the review report and
the case: the reader's language, tasks by their playbook labels, each time with its date once it is not today.

The response team opens a level Ⅱ missing-student incident at 22:00, takes control at 22:03, finds the search
step overdue at 22:10 and done at 22:31; past midnight, at 00:30, a note says the student was found.
"""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Night
from tests.integration.test_incident_walk import open_missing_student
from tests.texts import faults


def walk_past_midnight(night: Night) -> int:
    team = night.token("response1")
    night.at("22:00")
    incident = open_missing_student(night, team)
    iid = int(incident["id"])
    night.at("22:03")
    moved = night.client.post(f"/api/v1/incidents/{iid}/transitions/take_control", headers=team, json={"confirm": True})
    assert moved.status_code == 200, moved.text
    night.at("22:10")
    search = next(t for t in moved.json()["tasks"] if t["code"] == "start_search")
    night.at("22:31")
    done = night.client.post(
        f"/api/v1/incidents/{iid}/tasks/{search['id']}/complete", headers=team, json={"evidence": "已找到线索"}
    )
    assert done.status_code == 200, done.text
    night.at("24:30")
    note = night.client.post(
        f"/api/v1/incidents/{iid}/notes", headers=night.token("response1"), json={"text": "学生已找到，人身安全"}
    )
    assert note.status_code == 201, note.text
    return iid


def lines(night: Night, iid: int, **params: str) -> list[dict[str, Any]]:
    reply = night.client.get(f"/api/v1/incidents/{iid}", headers=night.token("response1"), params=params)
    assert reply.status_code == 200, reply.text
    timeline: list[dict[str, Any]] = reply.json()["timeline"]
    return timeline


def test_the_timeline_arrives_in_words_with_no_code_or_key_in_either_language(night: Night) -> None:
    iid = walk_past_midnight(night)
    for lang in ("zh-CN", "en"):
        timeline = lines(night, iid, lang=lang)
        text = "\n".join(f"{e['at_text']} {e['text']}" for e in timeline)
        assert faults(text, lang) == [], text
    zh = [e["text"] for e in lines(night, iid, lang="zh-CN")]
    assert zh[0] == "接报立案"
    assert "超时未完成：组织多渠道联系并就近查找，已提醒负责人（1 人）" in zh
    assert "超时完成：组织多渠道联系并就近查找" in zh
    assert zh[-1] == "记录：学生已找到，人身安全"
    en = {e["kind"]: e["text"] for e in lines(night, iid, lang="en")}
    assert en["created"] == "Incident opened"
    assert "start_search" not in "".join(en.values())


def test_a_line_of_yesterday_shows_its_date_and_a_line_of_today_only_its_time(night: Night) -> None:
    iid = walk_past_midnight(night)  # now 00:30 on 29 November
    timeline = lines(night, iid, lang="zh-CN")
    assert timeline[0]["at_text"] == "11月28日 22:00"
    assert timeline[-1]["at_text"] == "00:30"
    english = lines(night, iid, lang="en")
    assert english[0]["at_text"] == "Nov 28, 22:00"


def test_the_language_follows_the_readers_choice_and_the_catch_up_is_worded_too(night: Night) -> None:
    iid = walk_past_midnight(night)
    headers = {**night.token("response1"), "Accept-Language": "en-GB,en;q=0.9"}
    reply = night.client.get(f"/api/v1/incidents/{iid}/timeline", headers=headers, params={"after": 0})
    assert reply.status_code == 200
    assert reply.json()[0]["text"] == "Incident opened"
    chinese = night.client.get(f"/api/v1/incidents/{iid}/timeline", headers=night.token("response1"), params={"after": 1})
    assert chinese.json()[0]["seq"] == 2
    assert all(e["text"] and e["at_text"] for e in chinese.json())
