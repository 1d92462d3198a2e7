"""How the secretary's map behaves on a city-size community: 100,000 households in PostgreSQL.

Run: .venv/bin/python bench/map_render.py [--households 100000] [--visits 300000]
     [--database postgresql://postgres@127.0.0.1:5432/test]

Builds one community of 20 grids and 2,000 buildings in a schema of its own (dropped at the
end) with bulk inserts, serves the app on loopback, logs in as the secretary in Debian's
headless Chromium and opens the visit map. Prints the time from navigation to the first
complete render (every layer's answer drawn: ``performance.mark('gw-map-ready')``), then
zooms and pans through the city and prints the p50/p95 of the map data requests as the page
saw them (Resource Timing: network and server together) and their sizes.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

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


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def drive(base: str) -> dict[str, Any]:
    """Log in, open the map, then zoom and pan; return the page's timings."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=base, viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        page.goto("/app/login")
        page.fill("#username", "shuji")
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector('body[data-map-state="ready"][data-map-loads="1"]',
                               state="attached")
        first = page.evaluate("performance.getEntriesByName('gw-map-ready')[0].startTime")
        mode = page.evaluate("GW.mapPage.map.getZoom()")
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
    return {"first_render_ms": first, "first_zoom": mode, "entries": entries}


def report(figures: dict[str, Any], made: dict[str, Any]) -> None:
    """Print the figures."""
    print(f"data: {made['households']:,} households, {made['buildings']:,} buildings, "
          f"{made['grids']} grids, {made['visits']:,} visits (PostgreSQL)")
    print(f"first complete render of the map: {figures['first_render_ms']:.0f} ms "
          f"(from navigation; zoom {figures['first_zoom']})")
    entries = figures["entries"]
    durations = [e["ms"] for e in entries]
    print(f"map data requests: {len(entries)}, p50 {statistics.median(durations):.0f} ms, "
          f"p95 {_percentile(durations, 0.95):.0f} ms, max {max(durations):.0f} ms")
    kinds: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        kinds.setdefault(e["name"].split("/api/v1/map/")[1].split("?")[0], []).append(e)
    for kind, items in sorted(kinds.items()):
        ms = [e["ms"] for e in items]
        size = statistics.median(e["bytes"] for e in items) / 1024
        print(f"  /map/{kind:<11} n={len(items):<3} p50 {statistics.median(ms):6.0f} ms  "
              f"p95 {_percentile(ms, 0.95):6.0f} ms  median body {size:7.1f} KiB")


def main() -> None:
    """Seed, serve, drive, print, drop."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=300_000)
    parser.add_argument("--database", default=os.environ.get(
        "GRIDWORK_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    admin = args.database.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"gw_bench_{secrets.token_hex(3)}"
    engine = create_engine(admin)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    joiner = "&" if "?" in admin else "?"
    scoped = f"{admin}{joiner}options={quote(f'-csearch_path={schema}')}"
    instance = Path(f"/tmp/{schema}")
    try:
        app = create_app({"DATABASE_URL": scoped, "SECRET_KEY": secrets.token_hex(16),
                          "INSTANCE_DIR": str(instance), "PASSWORD_HASH_CHEAP": True,
                          "LOG_LEVEL": "WARNING"})
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            made = seed(args.households, args.visits)
            print(f"seeded in {time.perf_counter() - started:.1f} s")
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            figures = drive(f"http://127.0.0.1:{server.server_port}")
        finally:
            server.shutdown()
        report(figures, made)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


if __name__ == "__main__":
    main()
