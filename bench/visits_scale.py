"""Coverage and agenda at city scale: 100,000 households and 1,000,000 visits on PostgreSQL.

Usage: python bench/visits_scale.py [postgresql://user@host/db] [--households N]
       [--visits N] [--communities N] [--runs N]
       (default URL: $GRIDWORK_BENCH_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test)

Builds, in a throwaway schema, N communities of 6 grids (one worker each) with their
households and two years of visits (COPY, a minute or so), then times the service behind
GET /api/v1/stats/coverage for one community over one month, and GET /api/v1/me/agenda
for one worker, and prints each query's plan (EXPLAIN ANALYZE). Targets on this machine:
coverage under 300 ms, agenda under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server import create_app  # noqa: E402
from server.crypto import field_cipher  # noqa: E402
from server.extensions import db  # noqa: E402
from server.models import Building, Community, Grid, User, user_grids  # noqa: E402
from server.services.access import access_for  # noqa: E402
from server.services.agenda import agenda  # noqa: E402
from server.services.coverage import coverage  # noqa: E402
from server.services.visit_policy import DEFAULT_INTERVALS, schedule  # noqa: E402
from tests.dbsetup import make_test_database  # noqa: E402 - a throwaway schema

NOW = datetime(2026, 11, 20, 4, tzinfo=UTC)
GRIDS_PER_COMMUNITY, BUILDINGS_PER_GRID = 6, 8
TAGS = [("elderly_alone", 0.06), ("elderly", 0.10), ("disabled", 0.04), ("seriously_ill", 0.02),
        ("low_income", 0.05), ("left_behind_child", 0.03), ("veteran", 0.03),
        ("yellow_ribbon", 0.005)]
HH_COLS = ("id", "community_id", "grid_id", "building_id", "unit", "door", "code", "head_name",
           "phone", "id_number", "members", "lat", "lon", "tags", "notes", "last_visit_at",
           "last_met_at", "visit_interval_days", "priority", "due_from_at", "next_due_at",
           "created_at", "updated_at")
VISIT_COLS = ("id", "client_uuid", "body_sha256", "household_id", "worker_id", "grid_id",
              "visited_at", "received_at", "lat", "lon", "accuracy_m", "input_crs",
              "distance_m", "outcome", "notes", "flags", "off_site")


def _org(communities: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Communities, grids, buildings, one worker per grid and a secretary per community."""
    grids_out, secretaries = [], []
    for c in range(communities):
        community = Community(code=f"C{c:03d}", name=f"社区{c}")
        db.session.add(community)
        db.session.flush()
        secretary = User(username=f"sec{c}", display_name="书记", role="secretary",
                         password_hash="x", community_id=community.id)
        db.session.add(secretary)
        db.session.flush()
        secretaries.append(secretary.id)
        for g in range(GRIDS_PER_COMMUNITY):
            south, west = 28.0 + c * 0.02, 113.0 + g * 0.01
            grid = Grid(community_id=community.id, code=f"C{c:03d}-G{g}", name=f"网格{g}",
                        boundary={"type": "Polygon", "coordinates": [[[west, south]]]},
                        min_lat=south, min_lon=west, max_lat=south + 0.02, max_lon=west + 0.01)
            db.session.add(grid)
            db.session.flush()
            worker = User(username=f"w{c}-{g}", display_name="网格员", role="grid_worker",
                          password_hash="x", community_id=community.id)
            db.session.add(worker)
            db.session.flush()
            db.session.execute(user_grids.insert().values(user_id=worker.id, grid_id=grid.id))
            buildings = []
            for b in range(BUILDINGS_PER_GRID):
                building = Building(community_id=community.id, grid_id=grid.id,
                                    code=f"{g}-{b}", name=f"{b}栋",
                                    lat=south + 0.002 * (b + 1), lon=west + 0.001 * (b + 1))
                db.session.add(building)
                buildings.append(building)
            db.session.flush()
            grids_out.append({"id": grid.id, "community_id": community.id,
                              "worker": worker.id, "secretary": secretary.id,
                              "buildings": [(x.id, x.lat, x.lon) for x in buildings]})
    db.session.commit()
    return grids_out, secretaries


def _copy(table: str, cols: tuple[str, ...], rows: Any) -> int:
    raw = db.engine.raw_connection()
    count = 0
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        raw.commit()
    finally:
        raw.close()
    return count


def _fill(households: int, visits: int, grids: list[dict[str, Any]]) -> None:
    rng = random.Random(11)
    start = NOW - timedelta(days=730)
    homes = []
    for i in range(households):
        grid = grids[i % len(grids)]
        building_id, lat, lon = rng.choice(grid["buildings"])
        tags = [t for t, share in TAGS if rng.random() < share]
        homes.append([i + 1, grid, building_id, lat, lon, tags, None, None])
    visit_rows = []
    weights = [3 if h[5] else 1 for h in homes]
    picks = rng.choices(range(households), weights, k=visits)
    for n, index in enumerate(picks):
        home = homes[index]
        when = start + timedelta(seconds=rng.randrange(730 * 86400))
        outcome = "met" if rng.random() < 0.76 else rng.choice(("not_home", "refused"))
        off_site = rng.random() < 0.07
        home[6] = max(home[6] or when, when)
        if outcome == "met":
            home[7] = max(home[7] or when, when)
        visit_rows.append((n + 1, str(uuid.UUID(int=rng.getrandbits(128))), "0" * 64,
                           home[0], home[1]["worker"], home[1]["id"], when, when, home[3],
                           home[4], 10.0, "wgs84", 400.0 if off_site else 8.0, outcome, "",
                           json.dumps(["off_site"] if off_site else []), off_site))
    # Visits arrive in time order on a live server, so a month's rows sit together on disk.
    visit_rows.sort(key=lambda row: row[6])
    visit_rows = [(n + 1, *row[1:]) for n, row in enumerate(visit_rows)]
    created = start - timedelta(days=30)

    # Phones are encrypted at rest; one token serves every made-up household here.
    phone = field_cipher().encrypt("13800000000")

    def household_rows() -> Any:
        for hid, grid, building_id, lat, lon, tags, last_visit, last_met in homes:
            plan = schedule(tags=tags, intervals=DEFAULT_INTERVALS, created_at=created,
                            last_met_at=last_met, ribbon_raised_at=None)
            yield (hid, grid["community_id"], grid["id"], building_id, "1", str(hid),
                   f"H{hid}", "户主", phone, None, 2, lat, lon, json.dumps(tags), "",
                   last_visit, last_met, plan.interval_days, plan.priority, plan.due_from_at,
                   plan.next_due_at, created, created)

    began = time.perf_counter()
    _copy("household", HH_COLS, household_rows())
    _copy("visit", VISIT_COLS, visit_rows)
    with db.engine.begin() as conn:
        for table in ("household", "visit"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed table names
                              f"(SELECT max(id) FROM {table}))"))
    # What autovacuum does on a live server: statistics, and the visibility map that lets
    # index-only scans skip the heap.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"loaded {households:,} households and {visits:,} visits in "
          f"{time.perf_counter() - began:.1f} s (COPY, then VACUUM ANALYZE)")


def _time(label: str, run: Callable[[], Any], runs: int) -> list[tuple[str, Any]]:
    """Median and worst of ``runs`` warm runs; the SQL of one run, for EXPLAIN."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    run()  # warm the caches and the plan
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
        db.session.rollback()
    event.listen(db.engine, "before_cursor_execute", capture)
    run()
    event.remove(db.engine, "before_cursor_execute", capture)
    print(f"{label}: median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms "
          f"({runs} runs, {len(statements)} queries)")
    return statements


def _explain(statements: list[tuple[str, Any]]) -> None:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
            print("\n".join("    " + row[0] for row in cursor.fetchall()))
            print()
        raw.rollback()
    finally:
        raw.close()


def main() -> None:
    """Build the data, time the two queries, print their plans."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get(
        "GRIDWORK_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--communities", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    os.environ["GRIDWORK_TEST_DATABASE_URL"] = args.url
    database = make_test_database(Path("/tmp"))
    database.create()
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": database.url,
                          "INSTANCE_DIR": "/tmp/gridwork-bench"})
        with app.app_context():
            db.create_all()
            grids, secretaries = _org(args.communities)
            _fill(args.households, args.visits, grids)
            _measure(grids, secretaries, args.runs)
    finally:
        database.drop()


def _measure(grids: list[dict[str, Any]], secretaries: list[int], runs: int) -> None:
    secretary = db.session.get(User, secretaries[0])
    worker = db.session.get(User, grids[0]["worker"])
    code = db.session.scalar(select(Community.code).where(
        Community.id == grids[0]["community_id"]))
    month = (NOW - timedelta(days=30), NOW)
    per_grid = db.session.execute(text(
        "SELECT count(*) FROM household WHERE grid_id = :g"), {"g": grids[0]["id"]}).scalar()
    print(f"community {code}: {len(grids) // len(secretaries)} grids; a grid holds "
          f"{per_grid:,} households")

    def run_coverage() -> Any:
        access = access_for(db.session, secretary)
        return coverage(db.session, access, community=code, grid=None, start=month[0],
                        end=month[1], now=NOW)

    def run_agenda() -> Any:
        access = access_for(db.session, worker)
        lat, lon = grids[0]["buildings"][0][1:]
        return agenda(db.session, access, now=NOW, lat=lat, lon=lon, limit=50)

    result = run_coverage()
    total = result["total"]
    print(f"coverage result: {total['households']:,} households, {total['visits']:,} visits "
          f"in the month, {total['coverage_pct']}% met")
    plans = _time("coverage, one community, one month", run_coverage, runs)
    admin = User(username="bench-admin", display_name="admin", role="admin", password_hash="x")
    db.session.add(admin)
    db.session.commit()

    def run_city() -> Any:
        return coverage(db.session, access_for(db.session, admin), community=None, grid=None,
                        start=month[0], end=month[1], now=NOW)

    _time("coverage, whole city (admin), one month", run_city, max(3, runs // 4))
    items = run_agenda()
    print(f"agenda result: {items['overdue']} overdue, {items['due']} due; first: "
          f"{items['items'][0]['reasons']}")
    plans_agenda = _time("agenda, one worker, 50 items", run_agenda, runs)
    print("\nQuery plans: coverage")
    _explain(plans)
    print("Query plans: agenda")
    _explain(plans_agenda)


if __name__ == "__main__":
    main()
