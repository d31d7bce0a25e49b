"""Browser fixtures: a real uvicorn server on a free local port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.app import create_app
from riskcontrol.core.clock import ManualClock
from riskcontrol.settings import Settings
from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass(frozen=True)
class LiveServer:
    """A running application and the address it answers on; `app.state.ctx` drives its worker from a test."""

    url: str
    app: FastAPI


@contextmanager
def serve(app: FastAPI, *, ws: str) -> Iterator[LiveServer]:
    """`app` served by uvicorn on a free local port in a background thread, until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws=ws, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn-e2e")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the uvicorn test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def live_server(settings: Settings, sessions: sessionmaker[Session], clock: ManualClock) -> Iterator[LiveServer]:
    """The application on the (migrated, empty) test database, served by uvicorn in a background thread.

    It runs on the test's manual clock, as the scenario's data does: a page must read the same on any day."""
    # Websockets are not needed here, and the HTTP-only server starts without optional imports.
    with serve(create_app(settings, clock=clock), ws="none") as live:
        yield live


@pytest.fixture
def live_server_ws(settings: Settings, sessions: sessionmaker[Session], clock: ManualClock) -> Iterator[LiveServer]:
    """The same with websockets (the live inbox); no worker thread runs, so a test drives rounds itself."""
    assert not settings.run_worker_in_process
    # The sans-I/O protocol of `websockets`: the legacy one warns, and warnings are errors here.
    with serve(create_app(settings, clock=clock), ws="websockets-sansio") as live:
        yield live


# Module scope, not session: while the sync driver is open its event loop counts as running in
# this thread, which would break the asyncio tests that run after the browser tests.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        # A browser test that cannot run must not pass quietly: `make test` installs Chromium.
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; run `make test` (it installs Debian's chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by the browser tests of one module."""
    chromium = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser, clock: ManualClock) -> Iterator[BrowserContext]:
    """A phone-sized Chinese-language browser context (390×844, touch) on the test's clock, closed after the test."""
    context = browser.new_context(
        viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", device_scale_factor=2, is_mobile=True, has_touch=True
    )
    # The phone's clock starts at the scenario's time and runs on, as a real one keeps with the server's.
    context.clock.install(time=clock.now())
    yield context
    context.close()


def sign_in(page: Page, server: LiveServer, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would, and land on the home page."""
    page.goto(server.url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
