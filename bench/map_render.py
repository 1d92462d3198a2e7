"""How the secretary's map behaves on a city-size community: 100,000 households in PostgreSQL.

Run: .venv/bin/python bench/map_render.py [--households 100000] [--visits 300000]
     [--samples 7] [--workers 2] [--no-tiles]
     [--database postgresql://postgres@127.0.0.1:5432/test]
     (only the server is taken from --database: the bench makes a database of its own there,
     gridwork_bench_map, and drops it at the end)

Builds one community of 20 grids and 2,000 buildings with bulk inserts, serves it with
gunicorn in a process of its own (``gridwork serve``'s worker class and threads,
--workers workers) and, unless --no-tiles, a base-map tile server in another process
(GRIDWORK_MAP_TILE_URL points at it: 256 px PNG tiles of about 20 KB). The secretary logs
in once in Debian's headless Chromium (not timed: argon2 and the first login's rehash are
not the map), then opens the map --samples times, each in a new tab of the same browser
session: the time from navigation to the first complete render (every layer's answer drawn,
``performance.mark('gw-map-ready')``) and, with tiles, until the last base-map tile in view
has arrived. Prints every sample, the median and the worst, each against
the baseline measured in the same run: the same browser navigating to ``/api/v1/health``
(an empty page from the same server). Then zooms and pans through the city and prints the
p50/p95 of the map data requests as the page saw them (Resource Timing: network and server
together) and their sizes, with /proc/loadavg.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

from bench.common import load_average, median_worst, own_database, percentile  # noqa: E402
from client_sync.testing import LiveServer, free_port  # noqa: E402
from server import create_app  # noqa: E402
from server.extensions import db  # noqa: E402
from server.models import Building, Community, Household, Visit  # noqa: E402
from server.services.auth import create_user  # noqa: E402
from server.services.grids import import_grids  # noqa: E402
from tests.web.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402

PASSWORD = "bench-pass-2026"  # noqa: S105 - a throwaway schema
WEST, SOUTH = 113.000, 28.760  # the city's south-west corner
COLS, ROWS, GRID_DEG = 5, 4, 0.02  # 20 grids of about 2 x 2 km


def _grids() -> dict[str, Any]:
    features = []
    for r in range(ROWS):
        for c in range(COLS):
            w, s = WEST + c * GRID_DEG, SOUTH + r * GRID_DEG
            ring = [[w, s], [w + GRID_DEG, s], [w + GRID_DEG, s + GRID_DEG],
                    [w, s + GRID_DEG], [w, s]]
            features.append({"type": "Feature", "properties": {
                "code": f"B-{r * COLS + c + 1:02d}", "name": f"第{r * COLS + c + 1}网格"},
                "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def seed(households: int, visits: int) -> dict[str, Any]:
    """Bulk-insert the city; return who logs in and what was made."""
    rng = random.Random(7)  # noqa: S311 - reproducible layout
    session = db.session
    community = Community(code="CITY", name="大城社区")
    session.add(community)
    session.commit()
    grids = import_grids(session, "CITY", _grids())
    grid_rows = {g.code: g for g in community.grids}
    del grids
    buildings = []
    for n in range(households // 50):
        grid = grid_rows[f"B-{n % (COLS * ROWS) + 1:02d}"]
        buildings.append({"community_id": community.id, "grid_id": grid.id, "code": f"{n:05d}",
                          "name": f"{n}栋", "units": 4,
                          "lat": rng.uniform(grid.min_lat + 0.0005, grid.max_lat - 0.0005),
                          "lon": rng.uniform(grid.min_lon + 0.0005, grid.max_lon - 0.0005)})
    session.execute(insert(Building), buildings)
    session.commit()
    ids = [row[0] for row in session.execute(text("SELECT id, grid_id, lat, lon FROM building"))]
    places = {row[0]: row[1:] for row in session.execute(
        text("SELECT id, grid_id, lat, lon FROM building"))}
    now = datetime.now(UTC)
    rows = []
    for i in range(households):
        building = ids[i % len(ids)]
        grid_id, lat, lon = places[building]
        met = now - timedelta(days=rng.uniform(0, 120)) if rng.random() < 0.8 else None
        interval = 7 if i % 10 == 0 else 90
        due = (met or now - timedelta(days=200)) + timedelta(days=interval)
        rows.append({"community_id": community.id, "grid_id": grid_id, "building_id": building,
                     "unit": str(i % 4 + 1), "door": f"{i % 50 + 101}", "code": f"H{i:06d}",
                     "head_name": f"户主{i}", "members": 2, "lat": lat, "lon": lon,
                     "tags": ["elderly_alone"] if interval == 7 else [],
                     "last_visit_at": met, "last_met_at": met, "visit_interval_days": interval,
                     "priority": interval == 7, "next_due_at": due,
                     "due_from_at": due - timedelta(days=interval / 4),
                     "created_at": now - timedelta(days=400), "updated_at": now})
    for start in range(0, len(rows), 20_000):
        session.execute(insert(Household), rows[start:start + 20_000])
    session.commit()
    workers = [create_user(session, f"w{n:02d}", PASSWORD, "grid_worker",
                           grid_codes=(code,)).id for n, code in enumerate(sorted(grid_rows))]
    create_user(session, "shuji", PASSWORD, "secretary", community_code="CITY")
    homes = list(session.execute(text("SELECT id, grid_id, lat, lon FROM household")))
    batch = []
    for v in range(visits):
        hid, grid_id, lat, lon = homes[rng.randrange(len(homes))]
        batch.append({"client_uuid": f"00000000-0000-4000-8000-{v:012d}", "body_sha256": "0" * 64,
                      "household_id": hid, "worker_id": workers[(grid_id - 1) % len(workers)],
                      "grid_id": grid_id, "lat": lat, "lon": lon, "distance_m": 5.0,
                      "visited_at": now - timedelta(days=rng.uniform(0, 60)),
                      "received_at": now, "outcome": "met" if rng.random() < 0.85 else "not_home",
                      "flags": [], "off_site": rng.random() < 0.03, "notes": ""})
        if len(batch) == 20_000:
            session.execute(insert(Visit), batch)
            batch = []
    if batch:
        session.execute(insert(Visit), batch)
    session.commit()
    session.execute(text("ANALYZE"))
    session.commit()
    return {"households": households, "visits": visits, "grids": len(grid_rows),
            "buildings": len(ids)}


# -- the base map: a tile server of its own --------------------------------------------------


def _tile_pngs(n: int = 16) -> list[bytes]:
    """A few 256 px PNG tiles that weigh what street-map tiles do (about 10-30 KB)."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(3)  # noqa: S311 - test pictures
    out = []
    for _ in range(n):
        tile = Image.new("RGB", (256, 256), (242, 239, 233))
        draw = ImageDraw.Draw(tile)
        for _ in range(30):
            x, y = rng.randrange(256), rng.randrange(256)
            draw.rectangle((x, y, x + rng.randrange(8, 60), y + rng.randrange(8, 60)),
                           fill=(rng.randrange(200, 235), rng.randrange(200, 235), 220))
        for _ in range(8):
            draw.line((rng.randrange(256), 0, rng.randrange(256), 256), fill="white",
                      width=rng.randrange(3, 9))
        tile = Image.blend(tile, Image.effect_noise((256, 256), 12).convert("RGB"), 0.05)
        buf = io.BytesIO()
        tile.filter(ImageFilter.SMOOTH).save(buf, "PNG", optimize=True)
        out.append(buf.getvalue())
    return out


def serve_tiles(port: int) -> None:
    """Answer GET /{z}/{x}/{y}.png with a PNG tile, as a static tile folder would."""
    tiles = _tile_pngs()

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            parts = self.path.strip("/").removesuffix(".png").split("/")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                self.send_error(404)
                return
            body = tiles[hash(tuple(parts)) % len(tiles)]
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=86400")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Tiles).serve_forever()


def _wait_for(url: str, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200 (the tile server imports and draws its tiles first)."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the tile server did not answer {url}")


# -- the browser ----------------------------------------------------------------------------

_TILES_IN_VIEW_LOADED = """() => {
  const tiles = [...document.querySelectorAll('#map img.leaflet-tile')];
  return tiles.length > 0 && tiles.every(t => t.classList.contains('leaflet-tile-loaded'));
}"""
_LAST_TILE_MS = """(origin) => Math.max(0, ...performance.getEntriesByType('resource')
  .filter(e => e.name.startsWith(origin)).map(e => e.responseEnd))"""


def _open_map(context: Any, tiles: str | None) -> dict[str, float]:
    """Open the map in a new tab: ms to the first complete render, to the last tile in view,
    and to both."""
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto("/app/map")
    page.wait_for_selector('body[data-map-state="ready"][data-map-loads="1"]', state="attached")
    ready = page.evaluate("performance.getEntriesByName('gw-map-ready')[0].startTime")
    last_tile = 0.0
    if tiles:
        page.wait_for_function(_TILES_IN_VIEW_LOADED)
        last_tile = page.evaluate(_LAST_TILE_MS, tiles)
    page.close()
    return {"ready": ready, "tiles": max(ready, last_tile), "last_tile": last_tile}


def _open_health(context: Any) -> float:
    """The baseline: a new tab navigating to /api/v1/health, to its load event."""
    page = context.new_page()
    page.goto("/api/v1/health")
    ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    page.close()
    return float(ms)


def drive(base: str, samples: int, tiles: str | None) -> dict[str, Any]:
    """Log in once, open the map ``samples`` times, then zoom and pan; the page's timings."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto("/app/login")  # not timed: the session cookie is what a returning user has
        page.fill("#username", "shuji")
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector('body[data-map-state="ready"]', state="attached")
        page.close()
        opens, health = [], []
        for _ in range(samples):
            opens.append(_open_map(context, tiles))
            health.append(_open_health(context))
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto("/app/map")
        page.wait_for_selector('body[data-map-state="ready"][data-map-loads="1"]',
                               state="attached")
        zoom = page.evaluate("GW.mapPage.map.getZoom()")
        tiles_in_view = page.evaluate("document.querySelectorAll('#map img.leaflet-tile').length")
        moves = ["map.setZoom(map.getZoom() + 1)", "map.setZoom(map.getZoom() + 2)",
                 "map.panBy([400, 0], {animate: false})", "map.setZoom(17)",
                 "map.panBy([0, 300], {animate: false})", "map.setZoom(18)",
                 "map.panBy([-500, 0], {animate: false})", "map.setZoom(15)",
                 "map.setZoom(13)", "map.panBy([300, 300], {animate: false})"]
        for n, move in enumerate(moves, start=2):
            page.evaluate(f"(() => {{ const map = GW.mapPage.map; {move}; }})()")
            page.wait_for_selector(f'body[data-map-state="ready"][data-map-loads="{n}"]',
                                   state="attached")
        entries = page.evaluate(
            "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/map/'))"
            ".map(e => ({name: e.name, ms: e.duration, bytes: e.encodedBodySize}))")
        browser.close()
    return {"opens": opens, "health": health, "zoom": zoom, "tiles_in_view": tiles_in_view,
            "entries": entries}


def report(figures: dict[str, Any], made: dict[str, Any], tiles: bool, workers: int) -> None:
    """Print the figures, each against the baseline."""
    print(f"data: {made['households']:,} households, {made['buildings']:,} buildings, "
          f"{made['grids']} grids, {made['visits']:,} visits (PostgreSQL); server: gunicorn "
          f"gthread, {workers} workers x 4 threads, its own process; {load_average()}")
    health = figures["health"]
    base = statistics.median(health)
    print(f"baseline, a new tab opening /api/v1/health: median {base:.0f} ms, "
          f"worst {max(health):.0f} ms ({len(health)} samples)")
    keys = [("ready", "map page, logged in, to the first complete render")]
    if tiles:
        keys += [("last_tile", f"  its last base-map tile in view ({figures['tiles_in_view']})"),
                 ("tiles", "map page with its base-map tiles, both done")]
    for key, label in keys:
        times = [o[key] for o in figures["opens"]]
        median, worst = median_worst(times)
        print(f"{label}: median {median:.0f} ms, worst {worst:.0f} ms ({len(times)} samples, "
              f"zoom {figures['zoom']}) = {median / base:.1f}x / {worst / base:.1f}x the "
              f"baseline's median; samples {' '.join(f'{t:.0f}' for t in times)} ms")
    entries = figures["entries"]
    durations = [e["ms"] for e in entries]
    print(f"map data requests while zooming and panning: {len(entries)}, p50 "
          f"{statistics.median(durations):.0f} ms, p95 {percentile(durations, 0.95):.0f} ms, "
          f"max {max(durations):.0f} ms")
    kinds: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        kinds.setdefault(e["name"].split("/api/v1/map/")[1].split("?")[0], []).append(e)
    for kind, items in sorted(kinds.items()):
        ms = [e["ms"] for e in items]
        size = statistics.median(e["bytes"] for e in items) / 1024
        print(f"  /map/{kind:<11} n={len(items):<3} p50 {statistics.median(ms):6.0f} ms  "
              f"p95 {percentile(ms, 0.95):6.0f} ms  median body {size:7.1f} KiB")
    print(load_average())


def main() -> None:
    """Seed, serve, drive, print, drop."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=300_000)
    parser.add_argument("--samples", type=int, default=7, help="map page openings timed")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--no-tiles", action="store_true", help="no base map configured")
    parser.add_argument("--serve-tiles", type=int, help=argparse.SUPPRESS)  # the tile process
    parser.add_argument("--database", default=os.environ.get(
        "GRIDWORK_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if args.serve_tiles:
        serve_tiles(args.serve_tiles)
        return
    print(f"{load_average()} at the start")
    with own_database(args.database, "gridwork_bench_map") as url, \
            tempfile.TemporaryDirectory(prefix="gw-bench-map-") as tmp:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(16),
                          "INSTANCE_DIR": tmp, "PASSWORD_HASH_CHEAP": True,
                          "LOG_LEVEL": "WARNING"})
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            made = seed(args.households, args.visits)
            print(f"seeded in {time.perf_counter() - started:.1f} s")
            db.session.remove()
            db.engine.dispose()
        env, tiler, tiles = {}, None, None
        if not args.no_tiles:
            port = free_port()
            tiler = subprocess.Popen([sys.executable, __file__, "--serve-tiles", str(port)])
            tiles = f"http://127.0.0.1:{port}"
            _wait_for(f"{tiles}/0/0/0.png")
            env = {"GRIDWORK_MAP_TILE_URL": tiles + "/{z}/{x}/{y}.png",
                   "GRIDWORK_MAP_TILE_ATTRIBUTION": "bench tiles"}
        try:
            with LiveServer(url, Path(tmp) / "media", instance_dir=Path(tmp) / "server",
                            workers=args.workers, threads=4, env=env) as server:
                figures = drive(server.url, args.samples, tiles)
        finally:
            if tiler is not None:
                tiler.terminate()
                tiler.wait(timeout=10)
        report(figures, made, tiles is not None, args.workers)


if __name__ == "__main__":
    main()
