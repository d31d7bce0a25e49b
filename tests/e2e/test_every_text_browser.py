"""Every page as each demo role reads it in Chromium, after its scripts have drawn it (the timeline, the cards, the
board): in zh and in en, nothing shows a code, a catalogue key or, in Chinese, an English status word."""

from __future__ import annotations

import contextlib

import pytest
from playwright.sync_api import Browser, Error, Page

from riskcontrol.core import i18n
from riskcontrol.demo import DEMO_PASSWORD
from tests.e2e.conftest import PHONE, LiveServer, sign_in
from tests.integration import conftest as scenario
from tests.integration import test_every_text as every
from tests.texts import faults

pytestmark = pytest.mark.browser

night = scenario.night
campus = every.campus

READABLE = """() => {
  const attrs = [...document.querySelectorAll("[title],[placeholder],[aria-label],img[alt]")]
    .map((el) => [el.title, el.getAttribute("placeholder"), el.getAttribute("aria-label"), el.getAttribute("alt")]
      .filter(Boolean).join(" "));
  return [document.title, document.body.innerText, ...attrs].join("\\n");
}"""


# Counts the page's fetches in flight, so the test knows when its scripts have drawn what they fetched (a page
# with a live socket never goes network-idle, so waiting for that would cost seconds a page).
COUNT_FETCHES = """(() => {
  const fetch0 = window.fetch.bind(window);
  window.__inflight = 0;
  window.fetch = (...args) => {
    window.__inflight += 1;
    return fetch0(...args).finally(() => setTimeout(() => { window.__inflight -= 1; }, 50));
  };
})();"""


def _settle(page: Page) -> None:
    """Let the page's scripts fetch and draw what they fetched."""
    page.wait_for_load_state("load")
    with contextlib.suppress(Error):  # still fetching after 5 s: read what is drawn
        page.wait_for_function("() => window.__inflight === 0", timeout=5000, polling=50)


def test_every_page_reads_clean_in_the_browser_for_every_demo_role(
    campus: every.Campus, live_server: LiveServer, browser: Browser
) -> None:
    paths = every._page_paths(campus)
    problems: dict[str, list[str]] = {}
    for username in every.USERNAMES:
        context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
        context.clock.install(time=campus.night.clock.now())
        context.add_init_script(COUNT_FETCHES)
        page = context.new_page()
        sign_in(page, live_server, username, DEMO_PASSWORD)
        for path in paths:
            for lang in i18n.LANGUAGES:
                reply = page.goto(f"{live_server.url}{path}?lang={lang}")
                if reply is None or reply.status in (403, 404) or not page.url.split("?")[0].endswith(path):
                    continue  # not this role's page
                _settle(page)
                found = faults(page.evaluate(READABLE), lang, allowed=every._allowed())
                if found:
                    problems[f"{username} {path} {lang}"] = found
        context.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in sorted(problems.items()))
