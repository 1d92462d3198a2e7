"""A grid worker's day on the phone: the shell offline, 20 visits and 3 photo reports with no
signal, the tab closed and opened again, and everything arriving exactly once."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import requests
from PIL import Image
from sqlalchemy import func, select

from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Photo, Report, Visit
from tests.field.conftest import (
    FieldWorld,
    idb_blobs,
    jpeg_files,
    login,
    open_app,
    phone_options,
    wait_synced,
)
from tests.web.conftest import PageWatch


def _sw_context(browser: Any, live_server: LiveServer) -> Any:
    context = browser.new_context(**phone_options(live_server.url, service_workers="allow"))
    context.set_default_timeout(20_000)
    return context


def _controlled(page: Any) -> None:
    """Wait until the service worker has the shell and controls the page."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
        page.wait_for_selector("body[data-booted]", state="attached")
    assert page.evaluate("!!navigator.serviceWorker.controller")


def _visit_first(page: Any, notes: str) -> None:
    page.click("#agenda a.hh >> nth=0")
    page.wait_for_selector("#visit-form #place:not(:has(.warn))")
    page.fill("#notes", notes)
    page.click("#save")
    page.wait_for_selector('body[data-view="agenda"]')


def _report(page: Any, photo: Path, text: str) -> None:
    page.click("nav a[data-tab=report]")
    page.wait_for_selector("#report-form #place:not(:has(.warn))")
    page.select_option("#category", "garbage")
    page.fill("#description", text)
    page.set_input_files("#report-photos", str(photo))
    page.wait_for_selector("#report-photos-list img")
    page.wait_for_selector('#view[data-shrinking="0"]', state="attached")
    page.click("#save")
    page.wait_for_selector('body[data-view="outbox"]')


def test_shell_and_agenda_open_offline_after_the_first_visit(
        browser: Any, live_server: LiveServer, field_world: FieldWorld, watch: PageWatch) -> None:
    context = _sw_context(browser, live_server)
    try:
        page = open_app(context, watch)
        login(page, "zhou")
        _controlled(page)
        context.set_offline(True)
        page.reload()
        page.wait_for_selector('body[data-view="agenda"] #agenda a.hh')
        assert page.locator("#agenda a.hh").count() == 22
        # The yellow ribbon comes first of all, as gridsync agenda orders it.
        assert page.get_attribute("#agenda a.hh >> nth=0", "data-household") == str(
            field_world.households[0])
        page.click("#lang")
        page.wait_for_selector("html[lang=en]", state="attached")
        assert "Today's visits" in page.inner_text("h1")
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)


def test_a_day_offline_arrives_exactly_once(
        browser: Any, live_server: LiveServer, field_world: FieldWorld, watch: PageWatch,
        tmp_path: Path, app: Any) -> None:
    photos = jpeg_files(tmp_path, 3, width=3000, height=2250)
    context = _sw_context(browser, live_server)
    try:
        page = open_app(context, watch)
        login(page, "zhou")
        _controlled(page)
        context.set_offline(True)
        for n in range(20):
            _visit_first(page, f"第{n + 1}户,一切正常")
        for n, photo in enumerate(photos):
            _report(page, photo, f"巡查发现垃圾堆放 {n + 1}")
        assert page.get_attribute("body", "data-waiting") == "26"  # 20 + 3 + 3 photos
        page.close()

        page = open_app(context, watch, "#/outbox")  # offline: from the service worker
        page.wait_for_selector("#outbox li")
        assert page.get_attribute("body", "data-waiting") == "26"
        assert page.locator('#outbox li[data-kind="visit"]').count() == 20
        assert "垃圾" in page.inner_text('#outbox li[data-kind="report"]')  # not "garbage"
        queued = idb_blobs(page)
        assert len(queued) == 3
        for sent in queued.values():  # shrunk on the phone, the camera's EXIF kept
            image = Image.open(io.BytesIO(sent))
            assert max(image.size) == 2048 and image.format == "JPEG"
            assert image.getexif().get_ifd(0x8825), "the GPS EXIF was lost"
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Visit)) == 0

        context.set_offline(False)
        wait_synced(page)
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)

    worker = field_world.worker
    with app.app_context():
        visits = db.session.scalars(select(Visit).where(Visit.worker_id == worker.id)).all()
        reports = db.session.scalars(select(Report)).all()
        stored = db.session.scalars(select(Photo)).all()
        assert len(visits) == 20 and len({v.client_uuid for v in visits}) == 20
        assert len({v.household_id for v in visits}) == 20
        assert len(reports) == 3 and {len(r.photos) for r in reports} == {1}
        assert {p.id for p in stored} == set(queued)
        digests = {p.id: p.sha256 for p in stored}
    for photo_id, sent in queued.items():  # the secretary may read the original
        assert digests[photo_id] == hashlib.sha256(sent).hexdigest()
        answer = requests.get(f"{live_server.url}/api/v1/photos/{photo_id}/original",
                              headers=field_world.secretary.headers, timeout=10)
        assert answer.status_code == 200
        assert answer.content == sent, "the stored photo differs from what the phone sent"
