"""Browser tests: the app served on loopback, driven by Debian's Chromium through Playwright.

Every page a test opens is watched: a console error, an uncaught exception, a failed request
or an error answer fails the test (unless the test declares it expected). Screenshots go to
``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.browser import CHROMIUM_ARGS, chromium_path  # noqa: F401 - re-exported
from tests.web.world import WebWorld, build_world

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class TrackedApp:
    """WSGI wrapper that knows how many requests are being answered right now."""

    def __init__(self, app: Any) -> None:
        self.app, self.active = app, 0
        self.idle = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.idle:
            self.active += 1
        try:
            body = self.app(environ, start_response)
            try:
                return list(body)  # answer fully before counting the request as done
            finally:
                getattr(body, "close", lambda: None)()
        finally:
            with self.idle:
                self.active -= 1
                self.idle.notify_all()

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Wait until no request is in progress (a closed page may leave some running)."""
        with self.idle:
            self.idle.wait_for(lambda: self.active == 0, timeout=timeout)


@dataclass
class LiveServer:
    """The address of the live server and its request tracker."""

    url: str
    tracker: TrackedApp


@pytest.fixture(scope="session")
def live_server(_migrated_app: Flask) -> Iterator[LiveServer]:
    """The app under test on 127.0.0.1 (a free port), served by werkzeug in a thread."""
    tracker = TrackedApp(_migrated_app)
    server = make_server("127.0.0.1", 0, tracker, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.server_port}", tracker)
    server.shutdown()
    thread.join(timeout=10)


@dataclass
class PageWatch:
    """What went wrong on the pages of one test; ``allow`` names expected error answers."""

    problems: list[str] = field(default_factory=list)
    allowed: list[tuple[int, str]] = field(default_factory=list)

    def allow(self, status: int, path_part: str) -> None:
        """Expect an answer with ``status`` on a URL containing ``path_part``."""
        self.allowed.append((status, path_part))

    def _expected(self, status: int, url: str) -> bool:
        return any(status == s and part in url for s, part in self.allowed)

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            text = message.text
            # Chromium logs every error answer; those are judged by on_response instead.
            if "Failed to load resource" in text and any(
                    str(s) in text for s, _part in self.allowed):
                return
            self.problems.append(f"console error: {text} at {message.location}")

    def on_response(self, response: Any) -> None:
        if response.status >= 400 and not self._expected(response.status, response.url):
            self.problems.append(f"HTTP {response.status} for {response.request.method} "
                                 f"{response.url}")

    def on_failed(self, request: Any) -> None:
        self.problems.append(f"request failed: {request.method} {request.url} "
                             f"({request.failure})")

    def on_error(self, error: Any) -> None:
        self.problems.append(f"page error: {error}")


@pytest.fixture
def watch() -> PageWatch:
    """The problems seen on this test's pages."""
    return PageWatch()


def _new_page(browser: Any, live_server: LiveServer, watch: PageWatch, **options: Any) -> Any:
    context = browser.new_context(base_url=live_server.url, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", accept_downloads=True, **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("response", watch.on_response)
    page.on("requestfailed", watch.on_failed)
    page.on("pageerror", watch.on_error)
    return page


@pytest.fixture
def page(browser: Any, live_server: LiveServer, watch: PageWatch, app: Flask) -> Iterator[Any]:
    """A fresh browser page (its own cookies) on a desktop screen; fails on any page problem."""
    page = _new_page(browser, live_server, watch, viewport={"width": 1400, "height": 900})
    yield page
    page.context.close()
    live_server.tracker.wait_idle()  # before the app fixture empties the tables
    assert not watch.problems, "\n".join(watch.problems)


@pytest.fixture
def phone_page(browser: Any, live_server: LiveServer, watch: PageWatch,
               app: Flask) -> Iterator[Any]:
    """A fresh page on a phone-sized screen."""
    page = _new_page(browser, live_server, watch, viewport={"width": 390, "height": 844},
                     device_scale_factor=2, is_mobile=True, has_touch=True)
    yield page
    page.context.close()
    live_server.tracker.wait_idle()
    assert not watch.problems, "\n".join(watch.problems)


@pytest.fixture
def world(app: Flask, client: Any, factory: Any, media_dir: Path) -> WebWorld:
    """Community C1 with households, visits (one off site), photos and cases, made via the API."""
    return build_world(client, factory)


def login(page: Any, username: str, password: str) -> None:
    """Log in through the form and wait for the map."""
    page.goto("/app/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/app/map**")


def wait_map_ready(page: Any, loads_before: int = 0) -> None:
    """Wait until the map page has drawn the answers to all its requests.

    Selectors, not ``wait_for_function``: the pages' CSP forbids eval, which Playwright's
    predicate polling needs.
    """
    page.wait_for_selector(f'body[data-map-state="ready"]:not([data-map-loads="{loads_before}"])',
                           state="attached")


def wait_centred(page: Any, zoom: int = 18) -> None:
    """Wait until the map has moved to the mark a panel centred on and drawn that view.

    Leaving earlier would abort the view's requests. Polled from here (the CSP forbids the
    eval that ``wait_for_function`` needs): the view must hold for two looks, longer than
    the map's 150 ms wait after a move.
    """
    deadline, steady = time.monotonic() + 15, 0
    while steady < 2:
        assert time.monotonic() < deadline, "the map never settled on the centred mark"
        view = page.evaluate("[GW.mapPage.map.getZoom(), document.body.dataset.mapState]")
        steady = steady + 1 if view == [zoom, "ready"] else 0
        page.wait_for_timeout(200)


def wait_dashboard_ready(page: Any) -> None:
    """Wait until every dashboard section has its data."""
    page.wait_for_selector('body[data-dash-state="ready"]', state="attached")


def map_loads(page: Any) -> int:
    """How many times the map has become ready so far."""
    return int(page.evaluate("Number(document.body.dataset.mapLoads || 0)"))


def screenshot(page: Any, name: str, selector: str | None = None) -> Path:
    """Save a full-page screenshot (or one of ``selector``'s element) under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if selector:
        page.locator(selector).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path
