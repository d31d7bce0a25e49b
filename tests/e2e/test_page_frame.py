"""One page frame on a phone (390×844), every page visited as the demo role who uses it.

A night on the demo campus with its history: last month's missing-student incident reviewed, its case in the
library, a revision of the missing-student plan proposed, and tonight the dorm head of E1-101 reports a
suicide plan. Each page of the product is opened by the person it is for. On every page the same header
carries the way home and the language, and every page but home and the sign-in form a way back to the page
above it in the product (the incident to the board, the case to the library, the acknowledgement link from
the SMS to the inbox), whatever page the browser came from. Every link, button and field is a target of at
least 44×44 px (tests/e2e/targets.py states the rule and its exemptions), and nothing is wider than the phone.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

import riskcontrol.web
from riskcontrol.app import create_app
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.demo_history import seed_history
from riskcontrol.escalation.models import EscalationRecipient
from riskcontrol.escalation.service import ack_token
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.people.models import RoleAssignment, User
from riskcontrol.reviews.models import CaseStudy
from riskcontrol.settings import Settings
from tests.e2e.conftest import PHONE, LiveServer, serve
from tests.e2e.targets import small_targets
from tests.integration.conftest import Night, file_red_observation
from tests.integration.test_playbook_revisions import revisable
from tests.integration.test_revision_pages import proposed

pytestmark = pytest.mark.browser
__all__ = ["revisable"]

SIGNED_OUT = ""


@dataclass(frozen=True)
class Visit:
    """One page opened by one person (SIGNED_OUT: nobody), and where its back link must lead (None: none)."""

    user: str
    path: str
    back: str | None


@dataclass(frozen=True)
class Tonight:
    """The night's server and the ids its pages need."""

    live: LiveServer
    night: Night
    incident_id: int
    case_id: int
    case_word: str
    revision_id: int
    round_id: int
    escalation_id: int
    told: str
    ack_path: str


@pytest.fixture
def tonight(revisable: tuple[Night, Path], settings: Settings) -> Iterator[Tonight]:
    night, plans = revisable
    revision_id = proposed(night)
    history = seed_history(night.app.state.ctx, night.clock)
    assert history.incident_id
    escalation_id = int(file_red_observation(night)["escalation_id"])
    night.worker.run_once()  # the climb's first step tells its people
    with night.sessions() as db:
        case_id, case_title = db.execute(
            select(CaseStudy.id, CaseStudy.title).where(CaseStudy.incident_id == history.incident_id)
        ).one()
        told_id = db.execute(
            select(EscalationRecipient.user_id).where(EscalationRecipient.escalation_id == escalation_id).limit(1)
        ).scalar_one()
        told = db.get_one(User, told_id).username
        building = db.execute(
            select(OrgUnit.path)
            .join(RoleAssignment, RoleAssignment.unit_id == OrgUnit.id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(User.username == "safety_e1")
        ).scalar_one()
        round_id = db.execute(
            select(InspectionRound.id).where(InspectionRound.unit_path.like(building + "%")).order_by(InspectionRound.id).limit(1)
        ).scalar_one()
    app = create_app(settings.model_copy(update={"playbook_dir": plans}), clock=night.clock)
    with serve(app, ws="websockets-sansio") as live:
        token = ack_token(live.app.state.ctx.secret, escalation_id, told_id)
        yield Tonight(
            live, night, history.incident_id, case_id, case_title[-4:], revision_id, round_id, escalation_id, told, f"/e/{token}"
        )


def visits(n: Tonight) -> dict[str, list[Visit]]:
    """Every page route, the people who open it tonight, and where its back link leads."""
    iid = n.incident_id
    return {
        "/": [Visit(user, "/", None) for user in ("dorm_e1_101", "counselor_cs", "officer_cs", "affairs", "leader", "safety")],
        "/login": [Visit(SIGNED_OUT, "/login", None)],
        "/observe": [Visit("dorm_e1_101", "/observe", "/")],
        "/my-reports": [Visit("dorm_e1_101", "/my-reports", "/")],
        "/inbox": [Visit(n.told, "/inbox", "/")],
        "/e/{token}": [Visit(SIGNED_OUT, n.ack_path, "/inbox")],
        "/escalations/{escalation_id}": [Visit(n.told, f"/escalations/{n.escalation_id}", "/inbox")],
        "/board": [Visit("response1", "/board", "/")],
        "/incidents/{incident_id}": [Visit("affairs", f"/incidents/{iid}", "/board")],
        "/incidents/{incident_id}/aftercare": [Visit("affairs", f"/incidents/{iid}/aftercare", f"/incidents/{iid}")],
        "/prevention": [Visit("officer_cs", "/prevention", "/"), Visit("dorm_e1_101", "/prevention", "/")],
        "/inspections": [Visit("safety_e1", "/inspections", "/")],
        "/inspections/{round_id}": [Visit("safety_e1", f"/inspections/{n.round_id}", "/inspections")],
        "/hazards/report": [Visit("dorm_e1_101", "/hazards/report", "/")],
        "/hazards/mine": [Visit("dorm_e1_101", "/hazards/mine", "/hazards/report")],
        "/risk-map": [Visit("safety", "/risk-map", "/"), Visit("dorm_e1_101", "/risk-map", "/")],
        "/reviews": [Visit("leader", "/reviews", "/")],
        "/incidents/{incident_id}/review-report": [Visit("leader", f"/incidents/{iid}/review-report", "/reviews")],
        "/playbook-revisions": [Visit("leader", "/playbook-revisions", "/reviews")],
        "/playbook-revisions/{revision_id}": [Visit("leader", f"/playbook-revisions/{n.revision_id}", "/playbook-revisions")],
        "/cases": [Visit("leader", "/cases", "/")],
        # A case that is not there: the error page keeps the frame of the page asked for.
        "/cases/{case_id}": [Visit("leader", f"/cases/{n.case_id}", "/cases"), Visit("leader", "/cases/999999", "/cases")],
    }


def page_routes() -> set[str]:
    """The path of every page (GET, HTML) route declared in riskcontrol/web."""
    paths: set[str] = set()
    for info in pkgutil.iter_modules(riskcontrol.web.__path__):
        router = getattr(importlib.import_module(f"riskcontrol.web.{info.name}"), "router", None)
        for route in getattr(router, "routes", ()):
            if isinstance(route, APIRoute) and "GET" in (route.methods or ()) and route.path != "/favicon.ico":
                paths.add(route.path)
    return paths


class Phones:
    """One phone per person, signed in once (the dorm head's phone is not the counsellor's)."""

    def __init__(self, browser: Browser, live: LiveServer) -> None:
        self.browser, self.live = browser, live
        self.contexts: dict[str, BrowserContext] = {}

    def page(self, user: str) -> Page:
        if user not in self.contexts:
            context = self.browser.new_context(
                viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", device_scale_factor=2, is_mobile=True, has_touch=True
            )
            self.contexts[user] = context
            if user != SIGNED_OUT:
                page = context.new_page()
                page.goto(self.live.url + "/login")
                page.fill("#username", user)
                page.fill("#password", DEMO_PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(self.live.url + "/")
                page.close()
        return self.contexts[user].new_page()

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


def test_every_page_has_the_frame_a_way_back_and_targets_a_thumb_can_hit(tonight: Tonight, browser: Browser) -> None:
    tour = visits(tonight)
    assert set(tour) == page_routes(), "every page route is visited here: add the new page (and its way back)"
    phones = Phones(browser, tonight.live)
    faults: list[str] = []
    try:
        for route, seen in tour.items():
            for visit in seen:
                page = phones.page(visit.user)
                page.goto(tonight.live.url + visit.path)
                page.wait_for_load_state("networkidle")
                where = f"{visit.path if route != '/e/{token}' else route} as {visit.user or 'nobody'}"
                header = page.locator("header.topbar")
                expect(header).to_have_count(1)
                expect(header.locator("a.brand")).to_have_attribute("href", "/")
                expect(header.locator("nav.lang-switch")).to_be_visible()
                back = header.locator("a.frame-back")
                if visit.back is None:
                    expect(back).to_have_count(0)
                else:
                    expect(back).to_be_visible()
                    expect(back).to_have_attribute("href", visit.back)
                faults += [f"{where}: {small}" for small in small_targets(page)]
                if (width := page.evaluate("document.documentElement.scrollWidth")) > PHONE["width"]:
                    faults.append(f"{where}: the page is {width} px wide")
                page.close()
    finally:
        phones.close()
    assert not faults, "\n".join(faults)


def test_back_returns_to_the_list_as_it_was_left_and_leads_up_from_a_link(tonight: Tonight, browser: Browser) -> None:
    phones = Phones(browser, tonight.live)
    try:
        page = phones.page("leader")
        page.goto(tonight.live.url + "/cases?q=" + tonight.case_word)
        page.locator(f"a[href='/cases/{tonight.case_id}']").first.click()
        page.wait_for_url(re.compile(rf".*/cases/{tonight.case_id}$"))
        page.click("a.frame-back")
        page.wait_for_url(re.compile(r".*/cases\?q=.+$"))  # the filtered list, as it was left
        expect(page.locator("input[name=q]")).to_have_value(tonight.case_word)

        # Straight from a message (no page before it), back leads up the product, not out of it.
        page.goto(tonight.live.url + f"/incidents/{tonight.incident_id}/aftercare")
        page.click("a.frame-back")
        page.wait_for_url(re.compile(rf".*/incidents/{tonight.incident_id}$"))
        page.click("a.frame-back")
        page.wait_for_url(re.compile(r".*/board$"))
        page.click("a.frame-back")
        page.wait_for_url(tonight.live.url + "/")
        expect(page.locator("a.frame-back")).to_have_count(0)
    finally:
        phones.close()
