"""A patrol on the phone (巡查轨迹) and the secretary's map: the track the phone recorded and
the visits it made are drawn for that worker and day."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Track
from tests.field.conftest import G1_HERE, FieldWatch, FieldWorld, login, open_app, wait_synced
from tests.web.conftest import wait_map_ready


def _walk_to(phone: Any, page: Any, step: int) -> None:
    """Walk about 44 m north and wait for the app to record the point."""
    phone.set_geolocation({"latitude": G1_HERE[0] + 0.0004 * step, "longitude": G1_HERE[1],
                           "accuracy": 6})
    page.wait_for_selector(f'body[data-patrol-points="{step + 1}"]', state="attached")


def test_patrol_track_and_visits_reach_the_secretarys_map(
        browser: Any, phone: Any, live_server: LiveServer, field_world: FieldWorld,
        watch: FieldWatch, app: Any) -> None:
    page = open_app(phone, watch)
    login(page, "zhou")
    page.click("#patrol")
    page.wait_for_selector('#patrol[aria-pressed="true"]')
    page.wait_for_selector('body[data-patrol-points="1"]', state="attached")
    for step in range(1, 4):
        _walk_to(phone, page, step)
    for household in field_world.households[:2]:
        page.click(f'a[data-household="{household}"]')
        page.wait_for_selector("#visit-form #place:not(:has(.warn))")
        page.click("#save")
        page.wait_for_selector('body[data-view="agenda"]')
    assert "巡查中:4 个点" in page.inner_text("#patrol-status")
    page.click("#patrol")
    page.wait_for_selector('#patrol[aria-pressed="false"]')
    wait_synced(page)
    with app.app_context():
        track = db.session.scalars(select(Track)).one()
        assert track.worker_id == field_world.worker.id
        length_m = track.length_m
        assert 120 < length_m < 150  # three steps of about 44 m

    desk = browser.new_context(base_url=live_server.url, locale="zh-CN",
                               timezone_id="Asia/Shanghai",
                               viewport={"width": 1280, "height": 900})
    try:
        secretary = desk.new_page()
        secretary.goto("/app/login")
        secretary.fill("#username", "shuji")
        secretary.fill("#password", field_world.password)
        secretary.click("#login-form button[type=submit]")
        secretary.wait_for_url("**/app/map**")
        wait_map_ready(secretary)
        assert secretary.inner_text("#count-visits") == "2"
        secretary.select_option("#f-worker", str(field_world.worker.id))
        secretary.dispatch_event("#f-worker", "change")
        secretary.fill("#f-day", page.evaluate(
            "new Intl.DateTimeFormat('en-CA', {timeZone: 'Asia/Shanghai'}).format(new Date())"))
        secretary.click("#show-track")
        secretary.wait_for_selector("path.track-line", state="attached")
        secretary.wait_for_selector(".track-mark", state="attached")
        assert secretary.locator(".track-mark").count() == 2
        summary = secretary.inner_text("#track-summary")
        assert f"巡查:{round(length_m)} 米" in summary and "走访 2 次" in summary, summary
    finally:
        desk.close()
