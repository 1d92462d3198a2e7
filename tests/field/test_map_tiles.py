"""A base map under the position (report and visit screens) when the server names tiles; on
GCJ-02 tiles the WGS-84 fix is drawn shifted to GCJ-02, while the record keeps WGS-84."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from werkzeug.serving import make_server

from server.geo.crs import from_wgs84
from tests.field.conftest import G1_HERE, FieldWatch, FieldWorld, login, open_app, phone_options

TILES = "https://tiles.example.test/{z}/{x}/{y}.png"


@pytest.fixture
def gcj_server(make_app: Any, app: Flask) -> Iterator[str]:
    """The app with a GCJ-02 base map (AMap-style tiles), served on loopback in a thread
    (werkzeug: quicker to start than a second gunicorn, the same app and database)."""
    served = make_app(MAP_TILE_URL=TILES, MAP_TILE_CRS="gcj02")
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_report_screen_draws_the_fix_on_gcj02_tiles(
        browser: Any, gcj_server: str, field_world: FieldWorld,
        watch: FieldWatch) -> None:
    tile = io.BytesIO()
    Image.new("RGB", (256, 256), "#dde").save(tile, "PNG")
    context = browser.new_context(**phone_options(gcj_server, service_workers="block"))
    context.set_default_timeout(20_000)
    tiles: list[str] = []

    def serve_tile(route: Any) -> None:
        tiles.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=tile.getvalue())

    context.route("https://tiles.example.test/**", serve_tile)
    try:
        page = open_app(context, watch)
        login(page, "zhou")
        page.click("nav a[data-tab=report]")
        page.wait_for_selector('#place-map[data-map-crs="gcj02"]', state="attached")
        page.wait_for_selector("#place-map .leaflet-tile-loaded", state="attached")
        lat, lon = from_wgs84(*G1_HERE, "gcj02")
        drawn = (float(page.get_attribute("#place-map", "data-map-lat") or 0),
                 float(page.get_attribute("#place-map", "data-map-lon") or 0))
        assert abs(drawn[0] - lat) < 1e-6 and abs(drawn[1] - lon) < 1e-6
        assert abs(lat - G1_HERE[0]) > 1e-3  # GCJ-02 is hundreds of metres off here
        assert "28.80210, 113.07410" in page.inner_text("#place")  # WGS-84 is what is sent
        assert tiles and all(t.startswith("https://tiles.example.test/18/") for t in tiles)
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)
