"""The visit map in a real browser: grids by coverage, households by status, visits and the
day's track, cases, the detail panel, base-map coordinates, and a grid worker's narrower view."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from server.config import Config
from server.extensions import db
from server.geo import from_wgs84
from server.models import Track, User
from tests.web.conftest import (
    PageWatch,
    login,
    map_loads,
    screenshot,
    wait_map_ready,
)


def _count(page: Any, selector: str) -> int:
    return int(page.locator(selector).count())


def _legend(page: Any, name: str) -> str:
    return str(page.inner_text(f"#count-{name}"))


# Points across each grid label; the label must be what is on top at every one of them.
_LABEL_COVERED = """() => {
  const covered = [];
  document.querySelectorAll('.grid-label-box').forEach(box => {
    box.style.pointerEvents = 'auto';  // labels let clicks through; hit-test them for once
    const r = box.getBoundingClientRect();
    for (const [fx, fy] of [[.1, .3], [.5, .3], [.9, .3], [.1, .7], [.5, .7], [.9, .7]]) {
      const top = document.elementFromPoint(r.left + r.width * fx, r.top + r.height * fy);
      if (!box.contains(top)) {
        covered.push(box.textContent + ' under ' + (top && top.getAttribute('class')));
      }
    }
    box.style.pointerEvents = '';
  });
  return covered;
}"""


def _change(page: Any, selector: str, value: str) -> None:
    """Set a filter and wait for the map to redraw what it changed."""
    before = map_loads(page)
    page.fill(selector, value) if page.get_attribute(selector, "type") == "date" \
        else page.select_option(selector, value)
    page.dispatch_event(selector, "change")
    wait_map_ready(page, before)


def test_secretary_sees_grids_by_coverage_households_visits_and_cases(page: Any,
                                                                     world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    assert _count(page, "path.grid-area") == 2
    labels = page.locator(".grid-label").all_inner_texts()
    assert any("一网格" in text and "50.0%" in text for text in labels), labels
    assert _count(page, "path.hh") + _count(page, ".hh-ribbon") == 14
    assert _count(page, ".hh-ribbon") == 1
    assert _count(page, "path.hh-overdue") == int(_legend(page, "overdue")) == 9
    assert _legend(page, "ok") == "4" and _legend(page, "due") == "1"
    assert _count(page, "path.visit") == int(_legend(page, "visits")) == 7
    assert _count(page, "path.visit.off-site") == int(_legend(page, "offsite")) == 1
    assert _count(page, ".case-wrap") == 2 and _legend(page, "cases-overdue") == "1"
    assert _count(page, f".case-id-{world.overdue_case} .case-overdue") == 1
    page.hover("path.grid-G1", position={"x": 15, "y": 60})
    assert "覆盖率 50.0%" in page.inner_text(".leaflet-tooltip")
    screenshot(page, "map-secretary")


def test_period_and_worker_filters_change_the_counts(page: Any, world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    assert _legend(page, "visits") == "7"
    from_day = page.evaluate("GW.addDays(GW.today(), -6)")
    _change(page, "#f-from", from_day)  # the last 7 days: not the visits 10 and 20 days ago
    assert _legend(page, "visits") == "5"
    assert _count(page, "path.visit") == 5
    labels = " ".join(page.locator(".grid-label").all_inner_texts())
    assert "37.5%" in labels  # G1: 3 of 8 households met this week
    _change(page, "#f-worker", str(world.worker2.id))
    assert _legend(page, "visits") == "1"
    _change(page, "#f-outcome", "not_home")
    assert _legend(page, "visits") == "0"
    _change(page, "#f-worker", "")
    assert _legend(page, "visits") == "1" and _legend(page, "offsite") == "0"


def test_worker_and_day_draw_the_patrol_track_in_time_order(page: Any, world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    _change(page, "#f-worker", str(world.worker1.id))
    page.fill("#f-day", world.today)
    before = map_loads(page)
    page.click("#show-track")
    wait_map_ready(page, before)
    marks = page.locator(".track-mark")
    assert marks.all_inner_texts() == ["1", "2", "3"]
    assert "off-site" in (marks.nth(2).get_attribute("class") or "")
    # The line is what the phone recorded (two tracks), no longer drawn through the visits.
    assert _count(page, "path.track-line") == 2 and _count(page, "path.track-joined") == 0
    lines = page.evaluate("() => { const out = []; GW.mapPage.groups.track.eachLayer(l => {"
                          " if (l.getLatLngs) out.push(l.getLatLngs().map(p => [p.lat, p.lng]));"
                          " }); return out; }")
    assert lines[1][0] == lines[0][-1]  # the second segment continues the first: no gap
    summary = page.inner_text("#track-summary")
    km = f"{world.track_length_m / 1000:.2f} 公里"
    assert km in summary and "走访 3 次" in summary, summary
    minutes = round(world.track_seconds / 60)
    assert f"{minutes // 60} 小时 {minutes % 60} 分" in summary, summary
    screenshot(page, "map-track")


def test_a_day_with_visits_and_no_track_joins_the_visits(page: Any, world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    _change(page, "#f-worker", str(world.worker2.id))
    page.fill("#f-day", world.today)
    before = map_loads(page)
    page.click("#show-track")
    wait_map_ready(page, before)
    assert _count(page, "path.track-line") == 0 and _count(page, "path.track-joined") == 1
    assert "没有记录巡查轨迹" in page.inner_text("#track-summary")


def test_the_dashboard_links_a_workers_day_to_its_track_on_the_map(page: Any,
                                                                  world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    page.goto(page.url.split("/app/")[0] +
              f"/app/map?worker={world.worker1.id}&day={world.today}")
    page.wait_for_selector("path.track-line", state="attached")  # a flat line has no height
    assert _count(page, "path.track-line") == 2
    assert page.input_value("#f-worker") == str(world.worker1.id)


def test_opening_a_household_shows_its_visits_with_photo_thumbnails(page: Any,
                                                                   world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    household = world.g1_households[1]  # yellow ribbon, visited two days ago with a photo
    page.click(f".hh-id-{household}")
    page.wait_for_selector("#visit-history li")
    panel = page.inner_text("#detail")
    assert "户主102" in panel and "黄丝带" in panel and "13812345678" in panel
    thumb = page.locator("#visit-history img").first
    thumb.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0",
                         thumb.element_handle()) is True


def test_opening_a_case_shows_its_timeline_and_before_after_photos(page: Any,
                                                                  world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    page.click(f".case-id-{world.handled_case}")
    page.wait_for_selector("#case-timeline li")
    steps = page.locator("#case-timeline li").all_inner_texts()
    assert [s.split(" · ")[0] for s in steps] == ["已上报", "立案", "已派单", "已处置(回告)"]
    panel = page.inner_text("#detail")
    assert "垃圾" in panel and "处置前" in panel and "处置后" in panel
    assert _count(page, "#detail .thumbs img") >= 3  # before, after, and both on the steps
    screenshot(page, "map-case")


def test_grid_layer_asks_for_the_view_and_follows_a_move(page: Any, world: Any) -> None:
    """The grids come for the view's box (a city holds 1,200), asked again after a move."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/map/grids" in r.url else None)
    login(page, "shuji", world.password)
    wait_map_ready(page)
    assert _count(page, "path.grid-area") == 2
    assert asked and all("bbox=" in url for url in asked), asked
    before = map_loads(page)  # G2 alone fills the view: G1 is no longer asked for
    page.evaluate("GW.mapPage.map.setView(GW.crs.toMap(28.802, 113.083), 18)")
    wait_map_ready(page, before)
    assert _count(page, "path.grid-area") == 1 and _count(page, "path.grid-G2") == 1
    assert len(asked) >= 2


def test_grid_worker_sees_only_their_own_grid(page: Any, world: Any, watch: PageWatch) -> None:
    watch.allow(404, "/api/v1/households/")  # outside my grids: not found
    login(page, "wangge1", world.password)
    wait_map_ready(page)
    assert _count(page, "path.grid-area") == 1
    assert _count(page, "path.hh") + _count(page, ".hh-ribbon") == 8
    for other in world.g2_households:
        assert _count(page, f".hh-id-{other}") == 0
    assert _legend(page, "visits") == "5"
    # Asking for a household of G2 by its id finds nothing, and the panel says so.
    page.goto(f"/app/map?household={world.g2_households[0]}")
    wait_map_ready(page)
    page.wait_for_selector("#detail .alert")
    assert "户主201" not in page.inner_text("#detail")
    screenshot(page, "map-grid-worker")


def test_points_follow_a_gcj02_base_map(page: Any, world: Any, app: Flask,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "MAP_TILE_URL", "/tiles/{z}/{x}/{y}.png")
    monkeypatch.setitem(app.config, "MAP_TILE_CRS", "gcj02")
    tile = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                         "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e1e4a2"
                         "2d0000000049454e44ae426082")
    page.route("**/tiles/**", lambda route: route.fulfill(body=tile, content_type="image/png"))
    login(page, "shuji", world.password)
    wait_map_ready(page)
    assert _count(page, ".leaflet-tile") > 0
    assert _count(page, "#tile-hint") == 0  # a base map: nothing to set up
    drawn = page.evaluate(
        "id => { let p = null; GW.mapPage.groups.households.eachLayer(l => {"
        " if ((l.options.className || '').split(' ').includes('hh-id-' + id))"
        " p = l.getLatLng(); }); return [p.lat, p.lng]; }", world.g1_households[0])
    lat, lon = from_wgs84(28.8010, 113.0715, "gcj02")
    assert drawn == pytest.approx([lat, lon], abs=1e-9)
    assert abs(drawn[1] - 113.0715) > 0.003  # the GCJ-02 shift here is several hundred metres


def test_page_crs_math_matches_the_server(page: Any, world: Any) -> None:
    login(page, "shuji", world.password)
    for lat, lon in ((28.8010, 113.0715), (39.9087, 116.3975), (22.5431, 114.0579)):
        js = page.evaluate("p => GW.crs.wgsToGcj(p[0], p[1])", [lat, lon])
        assert js == pytest.approx(list(from_wgs84(lat, lon, "gcj02")), abs=1e-10)
        back = page.evaluate("p => GW.crs.gcjToWgs(p[0], p[1])", js)
        assert back == pytest.approx([lat, lon], abs=1e-8)


def test_demo_community_shows_its_map_with_coverage_in_chinese(page: Any, app: Flask) -> None:
    """The README's demo: log in with a printed login, see the coverage map, no internet."""
    from server.demo import DEMO_PASSWORD, seed_demo

    lines = list(seed_demo())
    assert any("shuji" in line for line in lines)
    login(page, "shuji", DEMO_PASSWORD)
    wait_map_ready(page)
    assert _count(page, "path.grid-area") == 4
    labels = page.locator(".grid-label").all_inner_texts()
    assert len(labels) == 4 and all("网格" in text and "%" in text for text in labels), labels
    assert _count(page, ".cluster") > 4  # 1,500 households: clusters until zoomed in
    assert page.evaluate(_LABEL_COVERED) == []  # clusters never hide a grid's name
    assert _count(page, ".leaflet-tile") == 0  # a plain background: no tile server needed
    screenshot(page, "map-demo")
    before = map_loads(page)
    page.evaluate("GW.mapPage.map.setZoom(18)")
    wait_map_ready(page, before)
    assert _count(page, "path.hh") + _count(page, ".hh-ribbon") > 20
    screenshot(page, "map-demo-zoomed")
    # The demo's workers walked their patrols through the doors they visited (巡查轨迹).
    assert any(line.startswith("Patrol tracks: ") for line in lines), lines
    track = db.session.scalars(select(Track).join(User, User.id == Track.worker_id).where(
        User.username == "wangge1").order_by(Track.point_count.desc())).first()
    assert track is not None and track.length_m > 0
    day = track.started_at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    page.goto(page.url.split("/app/")[0] + f"/app/map?worker={track.worker_id}&day={day}")
    page.wait_for_selector("path.track-line", state="attached")
    assert "公里" in page.inner_text("#track-summary") or "米" in page.inner_text(
        "#track-summary")


def test_map_without_tiles_names_the_setting_that_gives_a_base_map(page: Any,
                                                                   world: Any) -> None:
    assert hasattr(Config, "MAP_TILE_URL") and Config.MAP_TILE_URL is None
    login(page, "shuji", world.password)
    wait_map_ready(page)
    hint = page.locator("#tile-hint")
    assert "未配置底图" in hint.inner_text()
    assert page.inner_text("#tile-hint code") == "GRIDWORK_MAP_TILE_URL"  # as the env spells it
    page.click("#tile-hint .tile-hint-close")
    assert _count(page, "#tile-hint") == 0
