"""A playbook revision decided in Chromium: the school leader opens 复盘与整改, follows 预案修订 to the revision a
review proposed, reads what changes (the verification deadline cut to 10 minutes) and adopts it; the playbook
file then holds version 2 and the record of why. Nothing reaches beyond this machine or logs an error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, expect

from riskcontrol.app import create_app
from riskcontrol.demo import DEMO_PASSWORD
from riskcontrol.settings import Settings
from tests.e2e.conftest import LiveServer, serve, sign_in
from tests.e2e.test_risk_map_page import watch_from_here
from tests.integration.conftest import Night
from tests.integration.test_playbook_revisions import CHANGES, PLAYBOOK, WHY, revisable
from tests.integration.test_revision_pages import proposed

pytestmark = pytest.mark.browser
__all__ = ["revisable"]


@pytest.fixture
def revisable_server(revisable: tuple[Night, Path], settings: Settings) -> Iterator[tuple[Night, Path, LiveServer]]:
    night, plans = revisable
    with serve(create_app(settings.model_copy(update={"playbook_dir": plans})), ws="none") as live:
        yield night, plans, live


def test_the_leader_reads_the_revision_and_adopts_it(
    revisable_server: tuple[Night, Path, LiveServer], browser: Browser, tmp_path: Path
) -> None:
    night, plans, live = revisable_server
    rid = proposed(night)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    sign_in(page, live, "leader", DEMO_PASSWORD)
    network = watch_from_here(page, live.url)
    page.click("a.action-reviews")
    page.wait_for_url(re.compile(r".*/reviews$"))
    expect(page.locator(".prv-badge-proposed")).to_have_text("1 项待审定")
    page.click("a.rv-revisions")
    page.wait_for_url(re.compile(r".*/playbook-revisions$"))
    page.get_by_role("link", name="学生失联 v1 → v2").click()
    page.wait_for_url(re.compile(rf".*/playbook-revisions/{rid}$"))
    expect(page.locator(".prv-reason")).to_have_text(WHY)
    expect(page.locator(".prv-changes li")).to_have_text(CHANGES["zh-CN"])
    expect(page.locator("a.prv-download")).to_be_visible()
    page.screenshot(path=str(tmp_path / "revision-1280.png"), full_page=True)

    page.fill("textarea[name=note]", "同意，自即日起执行")
    page.get_by_role("button", name="采纳").click()
    page.wait_for_url(re.compile(rf".*/playbook-revisions/{rid}\?done=1$"))
    expect(page.get_by_role("status")).to_have_text("已审定。")
    expect(page.locator(".prv-facts")).to_contain_text("已采纳")
    expect(page.get_by_role("button", name="采纳")).to_have_count(0)
    written = yaml.safe_load(plans.joinpath(f"{PLAYBOOK}.yaml").read_text(encoding="utf-8"))
    assert written["version"] == 2
    assert written["revisions"][0]["why"] == WHY
    page.wait_for_load_state("networkidle")
    network.clean()
    context.close()
