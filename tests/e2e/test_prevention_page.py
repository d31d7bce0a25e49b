"""On her phone the monitor of class C1K1 marks this term's anti-fraud quiz done; her class's coverage shows it.

She signs in, taps 预防工作 on the home page and lands on her class: the quiz is amber (待完成)
among the class's rounds. She opens its form, gives the evidence and the pass count (the class size
is filled in for her), confirms, and is back on her class's page with the quiz green and the done
count up by one. Her counsellor, on the same page, sees the class's share done across the college.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.incidents import prevention
from riskcontrol.incidents.models import MeasureRound
from riskcontrol.incidents.prevention import PreventionConfig
from tests import factories as f
from tests.e2e.conftest import PHONE, LiveServer, sign_in

pytestmark = pytest.mark.browser

QUIZ_ZH = "全体学生反诈知识测试（须全员通过）"


def done_count(page: Page) -> int:
    counts = page.locator(".pv-summary .pv-counts").inner_text()
    found = re.search(r"已完成 (\d+)", counts)
    assert found is not None, counts
    return int(found.group(1))


def test_a_class_monitor_marks_the_anti_fraud_quiz_done_on_her_phone(
    phone: BrowserContext, live_server: LiveServer, db: Session, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    campus = f.build_campus(db)
    f.user(db, "monitor", ("class_monitor", campus["C1K1"]), name="陈班长")
    f.user(db, "counselor", ("counselor", campus["C1"]), name="李老师")
    cfg: PreventionConfig = live_server.app.state.ctx.extras["prevention"]
    assert prevention.open_rounds(db, live_server.app.state.ctx.clock, cfg.library(), cfg.calendar) > 0
    db.commit()

    page = phone.new_page()
    sign_in(page, live_server, "monitor")
    page.click("a.action-prevention")
    page.wait_for_url(re.compile(r".*/prevention$"))
    expect(page.locator("h2#pv-summary-heading")).to_contain_text(campus["C1K1"].name_zh)
    quiz = page.locator(".pv-round", has_text=QUIZ_ZH)
    expect(quiz).to_have_class(re.compile(r"\bpv-due\b"))
    expect(quiz.locator(".pv-status")).to_have_text("待完成")
    before = done_count(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "prevention-class-390x844.png"), full_page=True)

    quiz.locator("summary", has_text="标记完成").click()
    expect(quiz.locator("textarea[name=evidence]")).to_be_visible()
    expect(quiz.locator("input[name=population]")).to_have_value("2")  # the class has two students
    quiz.locator("textarea[name=evidence]").fill("班级群测试截图：2/2 通过")
    quiz.locator("input[name=covered]").fill("2")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    quiz.locator("button[type=submit]").click()

    page.wait_for_url(re.compile(r".*/prevention\?unit_id=\d+&done=\d+$"))
    expect(page.locator(".pv-flash")).to_have_text(f"已标记完成：{QUIZ_ZH}")
    quiz = page.locator(".pv-round", has_text=QUIZ_ZH)
    expect(quiz).to_have_class(re.compile(r"\bpv-done\b"))
    expect(quiz.locator(".pv-status")).to_have_text("已完成")
    expect(quiz.locator(".pv-round-done")).to_contain_text("陈班长")
    expect(quiz.locator(".pv-round-done")).to_contain_text("参与 2/2 人（100%）")
    expect(quiz.locator("summary")).to_have_count(0)  # nothing left to mark
    assert done_count(page) == before + 1
    page.screenshot(path=str(tmp_path / "prevention-quiz-done-390x844.png"), full_page=True)

    with sessions() as check:
        row = check.execute(
            select(MeasureRound).where(MeasureRound.measure_code == "anti_fraud_quiz", MeasureRound.unit_id == campus["C1K1"].id)
        ).scalar_one()
        assert (row.status, row.covered, row.population, row.late) == ("done", 2, 2, False)

    # The counsellor of the college drills down from her college to the class and sees it too.
    page.context.clear_cookies()
    sign_in(page, live_server, "counselor")
    page.goto(live_server.url + "/prevention")
    line = page.locator(".pv-unit", has_text=campus["C1K1"].name_zh)
    line.locator("summary", has_text="按措施查看").click()
    quiz_line = line.locator(".pv-measure", has_text=QUIZ_ZH)
    expect(quiz_line.locator(".pv-percent")).to_have_text("完成 100%")
    other = page.locator(".pv-unit", has_text=campus["C1K2"].name_zh)
    other.locator("summary").click()
    expect(other.locator(".pv-measure", has_text=QUIZ_ZH).locator(".pv-percent")).to_have_text("完成 0%")
    line.locator("a.pv-unit-name").click()
    expect(page.locator(".pv-trail [aria-current=page]")).to_have_text(campus["C1K1"].name_zh)
    expect(page.locator(".pv-round", has_text=QUIZ_ZH)).to_have_class(re.compile(r"\bpv-done\b"))
