"""The playbook revision pages: the list in scope, one revision with its changes and diff, and a leader's decision
through a form carrying the session's CSRF token."""

from __future__ import annotations

from pathlib import Path

import httpx2
import yaml
from fastapi.testclient import TestClient

from tests.integration.conftest import Night
from tests.integration.test_inspections import hidden, phone
from tests.integration.test_playbook_revisions import CHANGES, PLAYBOOK, closed_with_action, propose, revisable, revised, source

__all__ = ["revisable"]


def proposed(night: Night) -> int:
    _, aid = closed_with_action(night)
    reply = propose(night, aid, revised(source(night)))
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def decide(client: TestClient, revision_id: int, **form: str) -> httpx2.Response:
    csrf = hidden(client.get("/").text, "csrf")  # the session's token (the sign-out form carries it on every home page)
    return client.post(f"/playbook-revisions/{revision_id}/decide", data={"csrf": csrf, **form}, follow_redirects=False)


def test_a_leader_reads_the_changes_and_adopts_the_revision_on_the_page(revisable: tuple[Night, Path]) -> None:
    night, plans = revisable
    rid = proposed(night)
    leader = phone(night, "leader")
    reviews = leader.get("/reviews").text
    assert 'href="/playbook-revisions"' in reviews
    assert "1 项待审定" in reviews
    listing = leader.get("/playbook-revisions")
    assert listing.status_code == 200
    assert f'href="/playbook-revisions/{rid}"' in listing.text
    assert "学生失联 v1 → v2" in listing.text
    assert "待审定" in listing.text
    page = leader.get(f"/playbook-revisions/{rid}")
    # The changes in words, in the page's language; the file's diff is a download for those who keep the playbooks.
    assert "".join(f"<li>{line}</li>" for line in CHANGES["zh-CN"]) in page.text
    assert "steps.verification" not in page.text
    assert "due: {" not in page.text
    assert f'href="/api/v1/playbook-revisions/{rid}/diff"' in page.text
    assert "+        due: {I: 10m, II: 10m, III: 1h, IV: 4h}" in leader.get(f"/api/v1/playbook-revisions/{rid}/diff").text
    assert 'value="adopt"' in page.text
    assert hidden(page.text, "csrf") == hidden(leader.get("/").text, "csrf")

    # The proposer reads it too, without the forms.
    proposer = phone(night, "affairs")
    assert 'value="adopt"' not in proposer.get(f"/playbook-revisions/{rid}").text

    done = decide(leader, rid, decision="adopt", note="同意")
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/playbook-revisions/{rid}?done=1")
    after = leader.get(f"/playbook-revisions/{rid}")
    assert "已采纳" in after.text
    assert "同意" in after.text
    assert 'value="adopt"' not in after.text
    assert yaml.safe_load(plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8"))["version"] == 2
    assert "".join(f"<li>{line}</li>" for line in CHANGES["en"]) in leader.get(f"/playbook-revisions/{rid}?lang=en").text


def test_a_rejection_needs_a_reason_and_a_forged_form_is_refused(revisable: tuple[Night, Path]) -> None:
    night, plans = revisable
    rid = proposed(night)
    before = plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8")
    leader = phone(night, "leader")
    empty = decide(leader, rid, decision="reject", note="  ")
    assert empty.status_code == 422
    assert "不通过时请写明理由" in empty.text
    forged = leader.post(
        f"/playbook-revisions/{rid}/decide", data={"csrf": "0" * 64, "decision": "adopt"}, follow_redirects=False
    )
    assert forged.status_code == 403
    unknown = decide(leader, rid, decision="publish")
    assert unknown.status_code == 422
    # Student affairs reads it but cannot decide; the refusal is shown on the page.
    refused = decide(phone(night, "affairs2"), rid, decision="adopt")
    assert refused.status_code == 403
    assert plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8") == before
    rejected = decide(leader, rid, decision="reject", note="与公安联动时限冲突")
    assert rejected.status_code == 303
    assert "未通过" in leader.get(f"/playbook-revisions/{rid}").text
    assert plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8") == before


def test_strangers_students_and_other_colleges_see_nothing(revisable: tuple[Night, Path]) -> None:
    night, _ = revisable
    rid = proposed(night)
    anonymous = TestClient(night.app)
    assert anonymous.get("/playbook-revisions", follow_redirects=False).status_code == 303
    assert anonymous.get(f"/playbook-revisions/{rid}", follow_redirects=False).status_code == 303
    monitor = phone(night, "monitor_cs2301")
    assert f"/playbook-revisions/{rid}" not in monitor.get("/playbook-revisions").text
    assert monitor.get(f"/playbook-revisions/{rid}").status_code == 404
    other = phone(night, "officer_me")
    assert other.get(f"/playbook-revisions/{rid}").status_code == 404
    english = phone(night, "leader").get(f"/playbook-revisions/{rid}?lang=en")
    assert "Awaiting decision" in english.text
    assert "Missing student v1 → v2" in english.text
