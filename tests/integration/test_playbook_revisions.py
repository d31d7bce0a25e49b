"""Playbook revisions from improvement actions: proposed as a whole new version with its reason, checked like
the file, adopted by a leader other than the proposer (the file gains the record of what changed and why),
followed by incidents opened afterwards while open ones keep their version; rejected or superseded otherwise."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.notify.models import Notification
from riskcontrol.people.models import User
from riskcontrol.reviews.models import PlaybookRevision
from riskcontrol.settings import PROJECT_ROOT
from tests.integration.conftest import TEN_PM, Night, a_night
from tests.integration.test_inspections import phone
from tests.integration.test_review_meetings import open_incident, walk

PLAYBOOK = "missing_student"
OLD_DUE = "due: {I: 30m, II: 30m, III: 1h, IV: 4h}"
NEW_DUE = "due: {I: 10m, II: 10m, III: 1h, IV: 4h}"
WHY = "复盘发现核实环节用时过长：Ⅰ、Ⅱ级失联应在10分钟内完成首轮核实。"
# The revision's changes as a leader reads them, in each language.
CHANGES = {
    "zh-CN": [f"信息核实 › 核实最后联系时间、去向线索和风险因素 › 时限（{n}级）：30分钟 → 10分钟" for n in "ⅠⅡ"],
    "en": [f"Verification › Verify last contact, leads and risk factors › Deadline (level {n}): 30 min → 10 min" for n in "ⅠⅡ"],
}


@pytest.fixture
def revisable(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> Iterator[tuple[Night, Path]]:
    """A night whose playbooks are a copy the test may rewrite."""
    plans = tmp_path / "playbooks"
    shutil.copytree(PROJECT_ROOT / "playbooks", plans)
    # The school's missing-student plan as first adopted (version 1, no revision on record), whatever
    # revisions the shipped file has had since: the story below revises it to version 2.
    shipped = (plans / f"{PLAYBOOK}.yaml").read_text(encoding="utf-8")
    first = re.sub(r"^version: \d+$", "version: 1", shipped.split("\nrevisions:\n")[0], flags=re.M).rstrip("\n") + "\n"
    (plans / f"{PLAYBOOK}.yaml").write_text(first, encoding="utf-8")
    with a_night(sessions, database_url, tmp_path, playbook_dir=plans) as night:
        yield night, plans


def closed_with_action(night: Night, owner: str = "affairs") -> tuple[int, int]:
    iid = open_incident(night, "II")
    walk(night, iid)
    reply = night.client.post(
        f"/api/v1/incidents/{iid}/actions",
        headers=night.token("affairs"),
        json={
            "title": "缩短失联核实时限",
            "type": "process",
            "owner_user_id": night.user(owner).id,
            "due_at": (TEN_PM + timedelta(days=20)).isoformat(),
        },
    )
    assert reply.status_code == 201, reply.text
    return iid, int(reply.json()["id"])


def source(night: Night) -> str:
    reply = night.client.get(f"/api/v1/playbooks/{PLAYBOOK}/source", headers=night.token("affairs"))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/yaml")
    return reply.text


def revised(text: str) -> str:
    """The verification deadline cut to 10 minutes at levels Ⅰ and Ⅱ, version raised: as an editor would write it."""
    assert text.count(OLD_DUE) == 1
    return text.replace(OLD_DUE, NEW_DUE).replace("\nversion: 1\n", "\nversion: 2\n")


def propose(night: Night, action_id: int, text: str, user: str = "affairs", *, english: bool = False, **extra: Any) -> Any:
    return night.client.post(
        f"/api/v1/actions/{action_id}/playbook-revisions",
        headers={**night.token(user), **({"Accept-Language": "en"} if english else {})},
        json={"text": text, "reason": WHY, **extra},
    )


def decide(night: Night, revision_id: int, verb: str, user: str, **body: Any) -> Any:
    return night.client.post(f"/api/v1/playbook-revisions/{revision_id}/{verb}", headers=night.token(user), json=body)


def told(night: Night, revision_id: int, kind: str) -> list[str]:
    with night.sessions() as db:
        rows = db.execute(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(
                Notification.subject_type == "playbook_revision",
                Notification.subject_id == str(revision_id),
                Notification.kind == kind,
            )
        )
        return sorted(rows.scalars())


def revision_count(night: Night) -> int:
    with night.sessions() as db:
        return int(db.execute(select(func.count()).select_from(PlaybookRevision)).scalar_one())


def test_a_revision_proposed_from_an_action_is_adopted_and_new_incidents_follow_it(revisable: tuple[Night, Path]) -> None:
    night, plans = revisable
    iid, aid = closed_with_action(night)
    still_running = open_incident(night, "II")  # opened under v1, stays under v1
    before = plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8")
    assert source(night) == before
    assert night.client.get(f"/api/v1/playbooks/{PLAYBOOK}/source", headers=night.token("monitor_cs2301")).status_code == 403

    reply = propose(night, aid, revised(before))
    assert reply.status_code == 201, reply.text
    revision = reply.json()
    rid = revision["id"]
    assert (revision["status"], revision["base_version"], revision["version"]) == ("proposed", 1, 2)
    assert revision["changes"] == CHANGES["zh-CN"]
    english = night.client.get(f"/api/v1/playbook-revisions/{rid}", params={"lang": "en"}, headers=night.token("leader"))
    assert english.json()["changes"] == CHANGES["en"]
    downloaded = night.client.get(f"/api/v1/playbook-revisions/{rid}/diff", headers=night.token("leader"))
    assert downloaded.status_code == 200
    assert downloaded.text == revision["diff"]
    assert downloaded.headers["content-disposition"] == f'attachment; filename="{PLAYBOOK}-v1-v2.diff"'
    assert f"-        {OLD_DUE}" in revision["diff"]
    assert f"+        {NEW_DUE}" in revision["diff"]
    assert told(night, rid, "playbook.revision_proposed") == ["leader", "leader2"]

    # The action waits for the decision; its proposer and a non-leader cannot decide.
    done = night.client.post(f"/api/v1/actions/{aid}/done", headers=night.token("affairs"), json={"evidence": "见预案 v2"})
    assert (done.status_code, done.json()["field"]) == (409, "playbook_revision")
    assert (
        night.client.post(f"/api/v1/playbook-revisions/{rid}/adopt", headers=night.token("affairs"), json={}).status_code == 403
    )
    assert plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8") == before

    night.clock.set(TEN_PM + timedelta(days=3))
    adopted = night.client.post(
        f"/api/v1/playbook-revisions/{rid}/adopt", headers=night.token("leader"), json={"note": "同意，自即日起执行"}
    )
    assert adopted.status_code == 200, adopted.text
    assert adopted.json()["status"] == "adopted"
    again = night.client.post(f"/api/v1/playbook-revisions/{rid}/adopt", headers=night.token("leader2"), json={})
    assert (again.status_code, again.json()["field"]) == (409, "revision_id")

    # The file is the proposed text (comments and all) with the record of what changed and why appended.
    after = plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8")
    assert after.startswith(revised(before))
    assert "# 学生失联处置预案" in after
    record = yaml.safe_load(after)["revisions"]
    assert record == [
        {
            "version": 2,
            "adopted": "2026-12-01",
            "why": WHY,
            "changes": [{"zh": zh, "en": en} for zh, en in zip(CHANGES["zh-CN"], CHANGES["en"], strict=True)],
            "source": f"incident {iid}, improvement action {aid}, revision {rid}",
        }
    ]
    assert told(night, rid, "playbook.adopted") == ["affairs"]

    # New incidents follow v2; the one already open keeps v1 and its deadlines.
    fresh = open_incident(night, "II")
    team = night.token("response1")
    for incident_id, version, minutes in ((fresh, 2, 10), (still_running, 1, 30)):
        incident = night.client.get(f"/api/v1/incidents/{incident_id}", headers=team).json()
        assert incident["playbook_version"] == version
        walk(night, incident_id, ("take_control", "verify"))
        tasks = night.client.get(f"/api/v1/incidents/{incident_id}/tasks", headers=team).json()
        verify = next(t for t in tasks if t["code"] == "verify_facts")
        started = incident["started_at"]
        assert verify["due_at"] == _plus(started, minutes), (incident_id, verify)

    # The action now closes; the timeline and the review report carry the revision.
    done = night.client.post(f"/api/v1/actions/{aid}/done", headers=night.token("affairs"), json={"evidence": "预案 v2 已印发"})
    assert done.status_code == 200, done.text
    kinds = [e["kind"] for e in night.client.get(f"/api/v1/incidents/{iid}/timeline", headers=team).json()]
    assert [k for k in kinds if "revis" in k] == ["revision_proposed", "playbook_revised"]
    report = night.client.get(f"/api/v1/incidents/{iid}/review-report.html", headers=night.token("leader"))
    assert report.status_code == 200, report.text
    assert "预案修订第 2 版：已采纳" in report.text
    assert "预案修订已采纳：学生失联第 2 版" in report.text
    listed = night.client.get("/api/v1/playbook-revisions?type=missing_student", headers=night.token("leader")).json()
    assert [(r["id"], r["status"]) for r in listed] == [(rid, "adopted")]


def _plus(iso: str, minutes: int) -> str:
    return (datetime.fromisoformat(iso) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_a_proposal_is_checked_like_the_file_and_nothing_is_kept_when_it_fails(revisable: tuple[Night, Path]) -> None:
    night, plans = revisable
    _, aid = closed_with_action(night)
    text = source(night)
    bad_line = text[: text.index("owner: operations")].count("\n") + 1
    cases = [
        (text.replace(OLD_DUE, NEW_DUE), "Version must be 2"),
        (text.replace("\nversion: 1\n", "\nversion: 2\n"), "changes nothing"),
        (revised(text).replace("owner: operations", "owner: janitor", 1), f"line {bad_line}: steps.0.tasks.0.owner"),
        (revised(text) + "\nrevisions:\n  - {version: 2, adopted: 2026-12-01, why: x, changes: [y]}\n", "Leave `revisions`"),
        ("type: [", "problem"),
    ]
    for bad, said in cases:
        reply = propose(night, aid, bad, english=True)
        assert (reply.status_code, reply.json()["field"]) == (422, "text"), reply.text
        assert said in reply.json()["message"], (said, reply.json()["message"])
    # Unasked, the refusal is in Chinese.
    assert propose(night, aid, text.replace(OLD_DUE, NEW_DUE)).json()["message"] == "版本号应改为 2（现行版本是 1）。"
    other = propose(night, aid, revised(text), playbook_type="fire")
    assert (other.status_code, other.json()["field"]) == (422, "text")  # a fire plan's text is not this one
    unknown = propose(night, aid, revised(text), playbook_type="earthquake")
    assert (unknown.status_code, unknown.json()["field"]) == (404, "playbook_type")
    assert propose(night, aid, revised(text), reason="").status_code == 422
    assert propose(night, aid, revised(text), user="monitor_cs2301").status_code in (403, 404)
    assert revision_count(night) == 0
    assert plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8") == text


def test_rejected_or_superseded_revisions_leave_the_playbook_as_it_was(revisable: tuple[Night, Path]) -> None:
    night, plans = revisable
    _, first = closed_with_action(night)
    _, second = closed_with_action(night, owner="leader")
    text = source(night)
    a = propose(night, first, revised(text)).json()
    b = propose(night, second, revised(text).replace("III: 1h, IV: 4h}", "III: 30m, IV: 4h}", 1), user="leader").json()
    assert propose(night, first, revised(text)).status_code == 409  # one waiting proposal per action and playbook

    # The proposer cannot decide on their own revision; a rejection needs a reason.
    assert (
        night.client.post(f"/api/v1/playbook-revisions/{b['id']}/adopt", headers=night.token("leader"), json={}).status_code
        == 403
    )
    no_reason = night.client.post(f"/api/v1/playbook-revisions/{a['id']}/reject", headers=night.token("leader"), json={})
    assert no_reason.status_code == 422
    rejected = night.client.post(
        f"/api/v1/playbook-revisions/{a['id']}/reject", headers=night.token("leader"), json={"note": "与公安联动时限冲突"}
    )
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["decision_note"]) == ("rejected", "与公安联动时限冲突")
    assert told(night, a["id"], "playbook.rejected") == ["affairs"]
    assert plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8") == text

    # A third proposal against v1, then b adopted first: the third is superseded and can no longer be adopted.
    c = propose(night, first, revised(text)).json()
    assert (
        night.client.post(f"/api/v1/playbook-revisions/{b['id']}/adopt", headers=night.token("leader2"), json={}).status_code
        == 200
    )
    late = night.client.post(f"/api/v1/playbook-revisions/{c['id']}/adopt", headers=night.token("leader2"), json={})
    assert (late.status_code, late.json()["field"]) == (409, "revision_id")
    third = night.client.get(f"/api/v1/playbook-revisions/{c['id']}", headers=night.token("affairs")).json()
    assert (third["status"], third["decision_note"]) == ("superseded", "")
    superseded = phone(night, "affairs").get(f"/playbook-revisions/{c['id']}").text
    assert "同一版本的另一项修订已先采纳，本修订不再审定" in superseded
    assert told(night, c["id"], "playbook.superseded") == ["affairs"]
    assert yaml.safe_load(plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8"))["version"] == 2
    # A proposal against v1 is now refused outright.
    stale = propose(night, first, revised(text))
    assert (stale.status_code, stale.json()["field"]) == (422, "text")
    # Out of scope: a counsellor of another college does not see the revision.
    assert night.client.get(f"/api/v1/playbook-revisions/{b['id']}", headers=night.token("officer_me")).status_code == 404
