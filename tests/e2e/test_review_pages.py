"""The recovery stage read in Chromium: the leader's 复盘与整改 and a counsellor's 案例库.

A missing-student incident of last night was closed, its review meeting held the next afternoon and an
improvement action set. The school leader, at her desk, opens 复盘与整改: the review is there with its report
as HTML and PDF, and the open action below it; she opens the report and it reads in Chinese, and the PDF is a
PDF. A counsellor of the same college, on her phone, opens 案例库 from her home page: the case made from that
incident is listed, a word of its title finds it, a word that is nowhere finds nothing, and the case reads in
full — no name, no student number — and downloads as Markdown. Nothing on either page reaches beyond this
machine, nothing logs an error, and nothing is wider than the phone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from riskcontrol.demo import DEMO_PASSWORD
from tests.e2e.conftest import PHONE, LiveServer, sign_in
from tests.e2e.test_risk_map_page import watch_from_here
from tests.integration import conftest as scenario
from tests.integration.conftest import Night
from tests.integration.test_case_pages import ACTION, CONCLUSION, TITLE_WORD, reviewed_case

pytestmark = pytest.mark.browser

# The demo campus on a manual clock, as the integration scenarios have it; the live server shares its database.
night = scenario.night


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_leader_reads_the_review_its_report_and_the_open_action(
    night: Night, live_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    case = reviewed_case(night)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    sign_in(page, live_server, "leader", DEMO_PASSWORD)
    network = watch_from_here(page, live_server.url)
    page.click("a.action-reviews")
    page.wait_for_url(re.compile(r".*/reviews$"))

    review = page.locator("section[aria-labelledby=rv-reviews] .rv-item")
    expect(review).to_have_count(1)
    expect(review).to_contain_text(f"{TITLE_WORD}未归")
    expect(review).to_contain_text("Ⅱ 重大")
    expect(review.locator(".rv-status")).to_have_text("已召开")
    report = review.get_by_role("link", name="复盘报告")
    pdf = review.get_by_role("link", name="PDF")
    expect(report).to_have_attribute("href", f"/incidents/{case.incident_id}/review-report")
    expect(pdf).to_have_attribute("href", f"/api/v1/incidents/{case.incident_id}/review-report.pdf")
    action = page.locator("section[aria-labelledby=rv-actions] .rv-item")
    expect(action).to_have_count(1)
    expect(action).to_contain_text(ACTION)
    expect(action).to_contain_text("流程")
    expect(page.locator("a.rv-cases")).to_have_attribute("href", "/cases")
    page.screenshot(path=str(tmp_path / "reviews-1280.png"), full_page=True)
    page.click(".rv-filter button[type=submit]")  # every filter left at 全部 filters nothing
    page.wait_for_url(re.compile(r".*/reviews\?type=&level=$"))
    expect(review).to_have_count(1)

    # The PDF answers as a PDF to the page's own cookie session.
    answer = context.request.get(live_server.url + str(pdf.get_attribute("href")))
    assert (answer.status, answer.headers["content-type"]) == (200, "application/pdf")
    assert answer.body().startswith(b"%PDF")

    report.click()
    page.wait_for_url(re.compile(rf".*/incidents/{case.incident_id}/review-report$"))
    expect(page.locator("h1")).to_have_text("突发事件复盘报告")
    for heading in ("一、事件概况", "二、处置时间线", "七、复盘会", "八、改进措施"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("body")).to_contain_text(CONCLUSION)
    expect(page.locator(".internal-mark")).to_have_text("内部资料")
    expect(page.locator("#report-print")).to_have_text("打印")
    expect(page.locator(".report-toolbar a")).to_have_attribute(
        "href", f"/api/v1/incidents/{case.incident_id}/review-report.pdf?lang=zh"
    )
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(tmp_path / "report-1280.png"), full_page=True)
    # Print asks the browser to print: the frame and the toolbar stay off the paper.
    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    page.click("#report-print")
    assert page.evaluate("window.printed") == 1
    page.emulate_media(media="print")
    expect(page.locator(".report-toolbar")).to_be_hidden()
    expect(page.locator(".topbar")).to_be_hidden()
    page.emulate_media(media="screen")
    # The way back leads to 复盘与整改.
    page.click("a.frame-back")
    page.wait_for_url(re.compile(r".*/reviews(\?.*)?$"))
    network.clean()
    context.close()


def test_the_report_page_fits_a_phone(night: Night, live_server: LiveServer, phone: BrowserContext, tmp_path: Path) -> None:
    case = reviewed_case(night)
    page = phone.new_page()
    sign_in(page, live_server, "leader", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/incidents/{case.incident_id}/review-report")
    expect(page.locator("h1")).to_have_text("突发事件复盘报告")
    expect(page.locator("a.frame-back")).to_have_attribute("href", "/reviews")
    expect(page.locator("#report-print")).to_be_visible()
    expect(page.locator(".internal-mark")).to_be_visible()
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "report-390x844.png"), full_page=True)


def test_a_counsellor_finds_reads_and_downloads_the_case_on_her_phone(
    night: Night, live_server: LiveServer, phone: BrowserContext, tmp_path: Path
) -> None:
    case = reviewed_case(night)
    page = phone.new_page()
    sign_in(page, live_server, "counselor_cs", DEMO_PASSWORD)
    network = watch_from_here(page, live_server.url)
    page.click("a.action-cases")
    page.wait_for_url(re.compile(r".*/cases$"))
    items = page.locator(".cs-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text(f"学生甲{TITLE_WORD}未归")
    expect(items.first).to_contain_text("Ⅱ 重大")
    expect(items.first).to_contain_text("学生失联 · 2026年11月")
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "cases-390x844.png"), full_page=True)

    page.fill("input[name=q]", TITLE_WORD)
    page.click(".rv-filter button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases\?q=.+"))
    expect(items).to_have_count(1)
    expect(page.locator("input[name=q]")).to_have_value(TITLE_WORD)

    page.fill("input[name=q]", "无此词qzxv")
    page.click(".rv-filter button[type=submit]")
    expect(items).to_have_count(0)
    expect(page.locator(".cs-empty")).to_have_text("没有找到符合条件的案例，换个词或类型再试。")
    fits_the_phone(page)

    page.fill("input[name=q]", TITLE_WORD)
    page.click(".rv-filter button[type=submit]")
    items.first.locator("a").click()
    page.wait_for_url(re.compile(rf".*/cases/{case.case_id}$"))
    expect(page.locator("h1")).to_have_text(f"学生甲{TITLE_WORD}未归")
    for heading in ("事件概况", "处置过程", "处置步骤", "复盘结论", "改进措施"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator(".cs-timeline li").first).to_contain_text("T+0分钟")
    expect(page.locator("body")).to_contain_text(CONCLUSION)
    expect(page.locator("body")).to_contain_text(ACTION)
    fits_the_phone(page)
    page.screenshot(path=str(tmp_path / "case-390x844.png"), full_page=True)
    text = page.locator("body").inner_text()
    for identifier in (case.student_name, case.student_no):
        assert identifier not in text

    with page.expect_download() as started:
        page.click("a.cs-export")
    download = started.value
    assert download.suggested_filename == f"case-{case.case_id}.md"
    markdown = Path(download.path()).read_text(encoding="utf-8")
    assert markdown.startswith(f"# 学生甲{TITLE_WORD}未归\n")
    assert CONCLUSION in markdown
    for identifier in (case.student_name, case.student_no):
        assert identifier not in markdown
    network.clean()
