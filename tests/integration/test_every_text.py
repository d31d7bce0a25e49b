"""Every text a person reads, in zh and in en, for every demo role: the pages, the notifications and SMS, the review
report (the PDF's text) and the case (Markdown). None may show a code, a catalogue key or, in Chinese, an English
status word.

The campus is the demo's with its history (a closed, reviewed missing-student incident) and a live night: the dorm
head of E1-101 files a red report, the ladder climbs and the incident opens from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from riskcontrol.core import i18n
from riskcontrol.core.outbox import OutboxMessage
from riskcontrol.demo import DEMO_LOGINS, DEMO_PASSWORD
from riskcontrol.demo_history import seed_history
from riskcontrol.escalation.models import Escalation
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.notify.models import Notification
from riskcontrol.reviews.models import CaseStudy, PlaybookRevision
from tests.integration.conftest import Night, file_red_observation
from tests.signin import post_login
from tests.texts import faults, pdf_text, visible_text

LANGS = i18n.LANGUAGES
USERNAMES = tuple(login.username for login in DEMO_LOGINS)


@dataclass(frozen=True)
class Campus:
    night: Night
    ids: dict[str, list[str]]  # a path parameter's name → the values to render the page with
    history_incident: int
    live_incident: int


def _ids(night: Night, history: int, live: int) -> dict[str, list[str]]:
    with night.sessions() as db:
        case = db.execute(select(CaseStudy.id).order_by(CaseStudy.id)).scalars().first()
        rounds = db.execute(select(InspectionRound.id).order_by(InspectionRound.id)).scalars().first()
        revision = db.execute(select(PlaybookRevision.id).order_by(PlaybookRevision.id)).scalars().first()
        escalation = db.execute(select(Escalation.id).order_by(Escalation.id.desc())).scalars().first()
    ids = {"incident_id": [str(history), str(live)]}
    for name, value in (("case_id", case), ("round_id", rounds), ("revision_id", revision), ("escalation_id", escalation)):
        if value is not None:
            ids[name] = [str(value)]
    return ids


def _propose_a_revision(night: Night, incident_id: int) -> None:
    """A proposed change to the missing-student playbook, from the review's process action, so its page has one."""
    affairs = night.token("affairs")
    process = night.client.post(
        f"/api/v1/incidents/{incident_id}/actions",
        headers=affairs,
        json={
            "title": "缩短失联核实时限",
            "type": "process",
            "owner_user_id": night.user("affairs").id,
            "due_at": (night.clock.now() + timedelta(days=20)).isoformat(),
        },
    ).json()
    text = night.client.get("/api/v1/playbooks/missing_student/source", headers=affairs).text
    text = re.sub(r"^version: (\d+)$", lambda m: f"version: {int(m[1]) + 1}", text, count=1, flags=re.M)
    text = text.replace("due: {I: 30m, II: 30m, III: 1h, IV: 4h}", "due: {I: 10m, II: 10m, III: 1h, IV: 4h}", 1)
    reply = night.client.post(
        f"/api/v1/actions/{process['id']}/playbook-revisions",
        headers=affairs,
        json={"text": text, "reason": "复盘结论：核实时限需要缩短"},
    )
    assert reply.status_code == 201, reply.text


@pytest.fixture
def campus(night: Night) -> Campus:
    history = seed_history(night.app.state.ctx, night.clock)
    assert history.incident_id is not None
    file_red_observation(night)
    night.at("22:01")
    night.at("22:20")  # past the first step's deadline: the ladder climbs, the duty team is paged
    _propose_a_revision(night, history.incident_id)
    live = night.client.get("/api/v1/incidents", headers=night.token("response1")).json()
    opened = [i["id"] for i in live if i["id"] != history.incident_id]
    assert opened, "the red report opened no incident"
    return Campus(night, _ids(night, history.incident_id, opened[0]), history.incident_id, opened[0])


def _get_routes(app: FastAPI) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every GET route of the app as (path, endpoint), looking inside included routers."""
    for route in app.routes:
        if isinstance(route, APIRoute) and "GET" in (route.methods or ()):
            yield route.path, route.endpoint
        contexts = getattr(route, "effective_route_contexts", None)
        for context in (contexts() if callable(contexts) else contexts) or ():
            if "GET" in (getattr(context.original_route, "methods", None) or ()):
                yield context.path, context.endpoint


def _page_paths(campus: Campus) -> list[str]:
    """Every page of the product (an HTML route of riskcontrol.web), with its path parameters filled in."""
    paths: list[str] = []
    for path, endpoint in _get_routes(campus.night.app):
        if not endpoint.__module__.startswith("riskcontrol.web") or path in ("/favicon.ico", "/login"):
            continue
        names = re.findall(r"\{(\w+)\}", path)
        if "token" in names:
            continue  # the signed one-tap page is for one person: rendered in its own test below
        missing = [n for n in names if n not in campus.ids]
        assert not missing, f"give the every-text test an id for {path}"
        if not names:
            paths.append(path)
            continue
        for value in campus.ids[names[0]]:
            paths.append(path.replace("{" + names[0] + "}", value))
    return sorted(set(paths))


def _signed_in(campus: Campus, username: str) -> TestClient:
    client = TestClient(campus.night.app, base_url="http://testserver")
    reply = post_login(client, username, DEMO_PASSWORD)
    assert reply.status_code in (302, 303), reply.text
    return client


def _allowed() -> list[str]:
    """Words that are data, not codes: the demo's usernames (a person signs in with hers)."""
    return sorted(USERNAMES, key=len, reverse=True)


def test_every_page_reads_clean_in_both_languages_for_every_demo_role(campus: Campus) -> None:
    paths = _page_paths(campus)
    assert len(paths) >= 15, paths
    problems: dict[str, list[str]] = {}
    shown = 0
    for username in USERNAMES:
        client = _signed_in(campus, username)
        for path in paths:
            for lang in LANGS:
                reply = client.get(path, params={"lang": lang}, follow_redirects=False)
                if reply.status_code in (302, 303, 403, 404):
                    continue  # not this role's page
                assert reply.status_code == 200, (username, path, reply.status_code)
                shown += 1
                found = faults(visible_text(reply.text), lang, allowed=_allowed())
                if found:
                    problems[f"{username} {path} {lang}"] = found
    assert shown >= len(USERNAMES) * 4
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in sorted(problems.items()))


def test_the_one_tap_page_reads_clean(campus: Campus) -> None:
    with campus.night.sessions() as db:
        links = [
            str(n.data.get("link"))
            for n in db.execute(select(Notification).order_by(Notification.id)).scalars()
            if isinstance(n.data, dict) and "/e/" in str(n.data.get("link", ""))
        ]
    assert links, "no notification carries a one-tap link"
    path = links[0][links[0].index("/e/") :]
    for lang in LANGS:
        reply = TestClient(campus.night.app).get(path, params={"lang": lang})
        assert reply.status_code == 200
        assert faults(visible_text(reply.text), lang) == []


def test_every_notification_and_sms_reads_clean(campus: Campus) -> None:
    with campus.night.sessions() as db:
        items = list(db.execute(select(Notification)).scalars())
        sms = [m for m in db.execute(select(OutboxMessage)).scalars() if m.channel == "sms"]
    assert len(items) >= 10
    assert sms
    problems: list[str] = []
    for item in items:
        for lang, text in (("zh-CN", f"{item.title_zh}\n{item.body_zh}"), ("en", f"{item.title_en}\n{item.body_en}")):
            problems += [f"#{item.id} {item.kind} {lang}: {f}" for f in faults(text, lang)]
    for message in sms:
        body = str(message.payload.get("body", ""))
        assert body
        problems += [f"sms #{message.id}: {f}" for f in faults(body, "zh-CN")]
    assert problems == []


def test_the_review_report_pdf_reads_clean(campus: Campus, tmp_path: Path) -> None:
    leader = campus.night.token("leader")
    for lang in ("zh", "en"):
        url = f"/api/v1/incidents/{campus.history_incident}/review-report.pdf"
        pdf = campus.night.client.get(url, params={"lang": lang}, headers=leader)
        assert pdf.status_code == 200
        text = pdf_text(pdf.content, tmp_path, name=f"report-{lang}.pdf")
        assert len(text) > 500
        assert faults(text, "zh-CN" if lang == "zh" else "en") == []


def test_the_case_markdown_reads_clean(campus: Campus) -> None:
    leader = campus.night.token("leader")
    [case_id] = campus.ids["case_id"]
    for lang in ("zh", "en"):
        md = campus.night.client.get(f"/api/v1/cases/{case_id}/export.md", params={"lang": lang}, headers=leader)
        assert md.status_code == 200
        assert faults(md.text, "zh-CN" if lang == "zh" else "en") == []
