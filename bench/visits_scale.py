"""Coverage and agenda at city scale on PostgreSQL, against a count(*) over the same rows.

Usage: python bench/visits_scale.py [postgresql://user@host/db] [--case spread|one|both]
       [--households N] [--visits N] [--communities N] [--big-households N]
       [--big-visits N] [--big-month-visits N] [--runs N]
       (default URL: $GRIDWORK_BENCH_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test;
       only the server is taken from it: the bench makes a database of its own there,
       gridwork_bench_visits, and drops it at the end)

Two cases, one after the other in the same database:
- spread: N communities of 6 grids (one worker each) sharing --households households and
  two years of --visits visits (COPY), so a community-month touches about 2,000 visits;
- one: the case that matters, one community of --big-households (100,000) households in 8
  grids with --big-visits (1,000,000) visits over two years, --big-month-visits (40,000) of
  them in the month (built in SQL with generate_series).
For each it times the service behind GET /api/v1/stats/coverage for one community over one
month, and GET /api/v1/me/agenda for one worker: the median and worst of --runs warm runs,
each against a ``count(*)`` over the same rows timed in the same run (the month's visits of
the community; the households of the worker's grid), and prints the coverage plan (EXPLAIN
ANALYZE) and /proc/loadavg. Aims: coverage under 100 ms, agenda under 200 ms (issue 16).
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

from sqlalchemy import event, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, own_database, samples_ms, summary  # noqa: E402
from server import create_app  # noqa: E402
from server.crypto import field_cipher  # noqa: E402
from server.extensions import db  # noqa: E402
from server.models import (  # noqa: E402
    Building,
    Community,
    Grid,
    Household,
    User,
    Visit,
    user_grids,
)
from server.services.access import access_for  # noqa: E402
from server.services.agenda import agenda  # noqa: E402
from server.services.coverage import coverage  # noqa: E402
from server.services.visit_policy import DEFAULT_INTERVALS, schedule  # noqa: E402

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


def _time(label: str, run: Callable[[], Any], runs: int,
          baseline: list[float]) -> list[tuple[str, Any]]:
    """Median and worst of ``runs`` warm runs against ``baseline``; one run's SQL, for EXPLAIN."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    times = samples_ms(run, runs, after=db.session.rollback)
    event.listen(db.engine, "before_cursor_execute", capture)
    run()
    event.remove(db.engine, "before_cursor_execute", capture)
    db.session.rollback()
    base = statistics.median(baseline)
    print(f"{label}: {summary(times)}, {len(statements)} queries; "
          f"{statistics.median(times) / base:.1f}x (median) and {max(times) / base:.1f}x "
          f"(worst) the count(*)'s median of {base:.1f} ms")
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
    """Build the data, time the queries against their baselines, print the plans."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get(
        "GRIDWORK_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--case", choices=("spread", "one", "both"), default="both")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--communities", type=int, default=20)
    parser.add_argument("--big-households", type=int, default=100_000)
    parser.add_argument("--big-visits", type=int, default=1_000_000)
    parser.add_argument("--big-month-visits", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"{load_average()} at the start")
    with own_database(args.url, "gridwork_bench_visits") as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url,
                          "INSTANCE_DIR": "/tmp/gridwork-bench"})
        with app.app_context():
            db.create_all()
            if args.case in ("spread", "both"):
                grids, secretaries = _org(args.communities)
                _fill(args.households, args.visits, grids)
                _measure(grids, secretaries, args.runs)
            if args.case in ("one", "both"):
                org = _fill_big(args.big_households, args.big_visits, args.big_month_visits)
                _measure_big(org, args.runs)
            db.session.remove()
            db.engine.dispose()


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
    same_rows = select(func.count()).select_from(Visit).where(
        Visit.grid_id.in_([g["id"] for g in grids if g["community_id"] == grids[0][
            "community_id"]]), Visit.visited_at >= month[0], Visit.visited_at < month[1])
    baseline = samples_ms(lambda: db.session.scalar(same_rows), runs,
                          after=db.session.rollback)
    print(f"baseline: count(*) over the month's {db.session.scalar(same_rows):,} visits of "
          f"{code}: {summary(baseline)}")
    plans = _time("coverage, one community, one month", run_coverage, runs, baseline)
    admin = User(username="bench-admin", display_name="admin", role="admin", password_hash="x")
    db.session.add(admin)
    db.session.commit()

    def run_city() -> Any:
        return coverage(db.session, access_for(db.session, admin), community=None, grid=None,
                        start=month[0], end=month[1], now=NOW)

    city_rows = select(func.count()).select_from(Visit).where(
        Visit.visited_at >= month[0], Visit.visited_at < month[1])
    city_base = samples_ms(lambda: db.session.scalar(city_rows), max(3, runs // 4),
                           after=db.session.rollback)
    print(f"baseline: count(*) over the city's month of visits: {summary(city_base)}")
    _time("coverage, whole city (admin), one month", run_city, max(3, runs // 4), city_base)
    items = run_agenda()
    print(f"agenda result: {items['overdue']} overdue, {items['due']} due; first: "
          f"{items['items'][0]['reasons']}")
    per_grid_query = households_in(grids[0]["id"])
    agenda_base = samples_ms(lambda: db.session.scalar(per_grid_query), runs,
                             after=db.session.rollback)
    print(f"baseline: count(*) over one grid's households: {summary(agenda_base)}")
    plans_agenda = _time("agenda, one worker, 50 items", run_agenda, runs, agenda_base)
    print(f"{load_average()}\n\nQuery plans: coverage")
    _explain(plans)
    print("Query plans: agenda")
    _explain(plans_agenda)


# -- one big community: 100,000 households, 1,000,000 visits, 40,000 in the month ---------

BIG_CODE, BIG_GRIDS = "BIG", 8
HOUSEHOLDS_PER_BUILDING = 50


def _big_org(households: int) -> dict[str, Any]:
    """The big community: its grids (a worker each), a secretary, buildings (SQL)."""
    community = Community(code=BIG_CODE, name="大社区")
    db.session.add(community)
    db.session.flush()
    secretary = User(username="sec-big", display_name="书记", role="secretary",
                     password_hash="x", community_id=community.id)
    db.session.add(secretary)
    grid_ids, workers = [], []
    for g in range(BIG_GRIDS):
        south, west = 27.5, 113.0 + g * 0.02
        grid = Grid(community_id=community.id, code=f"{BIG_CODE}-G{g}", name=f"大网格{g}",
                    boundary={"type": "Polygon", "coordinates": [[[west, south]]]},
                    min_lat=south, min_lon=west, max_lat=south + 0.02, max_lon=west + 0.02)
        worker = User(username=f"w-big-{g}", display_name="网格员", role="grid_worker",
                      password_hash="x", community_id=community.id)
        db.session.add_all([grid, worker])
        db.session.flush()
        db.session.execute(user_grids.insert().values(user_id=worker.id, grid_id=grid.id))
        grid_ids.append(grid.id)
        workers.append(worker.id)
    buildings = max(BIG_GRIDS, households // HOUSEHOLDS_PER_BUILDING)
    db.session.execute(text(
        "INSERT INTO building (community_id, grid_id, code, name, units, lat, lon) "
        "SELECT :c, g.id, 'BIG-' || b, b || '栋', 4, "
        "       g.min_lat + 0.0005 + ((b * 37) % 190) * 0.0001, "
        "       g.min_lon + 0.0005 + ((b * 53) % 190) * 0.0001 "
        "FROM generate_series(0, :n - 1) AS b "
        "JOIN grid g ON g.id = (CAST(:grids AS bigint[]))[b % :k + 1]"),
        {"c": community.id, "n": buildings, "grids": grid_ids, "k": BIG_GRIDS})
    db.session.commit()
    return {"community_id": community.id, "secretary": secretary.id, "grids": grid_ids,
            "workers": workers}


_BIG_HOUSEHOLDS = """
INSERT INTO household (community_id, grid_id, building_id, unit, door, code, head_name,
    members, lat, lon, tags, notes, visit_interval_days, priority, due_from_at, next_due_at,
    created_at, updated_at)
SELECT b.community_id, b.grid_id, b.id, '1', CAST(i AS text), 'BIG-H' || i, '户主', 2,
       b.lat, b.lon,
       CAST(CASE WHEN i % 17 = 0 THEN '["elderly_alone"]' ELSE '[]' END AS jsonb), '',
       CASE WHEN i % 17 = 0 THEN 7 ELSE 90 END, i % 17 = 0, :created, :created,
       :created, :created
FROM generate_series(0, :n - 1) AS i
JOIN building b ON b.id = :first_building + i % :buildings
"""

# Visits in time order (a live server receives them so); the household of visit i is a
# fixed permutation of i, so the month's visits fall on different households.
_BIG_VISITS = """
INSERT INTO visit (client_uuid, body_sha256, household_id, worker_id, grid_id, visited_at,
    received_at, lat, lon, accuracy_m, input_crs, distance_m, outcome, notes, flags, off_site)
SELECT CAST(md5('big' || i) AS uuid)::text, repeat('0', 64), h.id, ug.user_id, h.grid_id,
       t.at, t.at, h.lat, h.lon, 10.0, 'wgs84',
       CASE WHEN (i * 40503) % 100 < 7 THEN 400.0 ELSE 8.0 END,
       CASE WHEN (i * 2654435761) % 100 < 76 THEN 'met'
            WHEN (i * 2654435761) % 100 < 90 THEN 'not_home' ELSE 'refused' END, '',
       CAST(CASE WHEN (i * 40503) % 100 < 7 THEN '["off_site"]' ELSE '[]' END AS jsonb),
       (i * 40503) % 100 < 7
FROM generate_series(CAST(0 AS bigint), :visits - 1) AS i
CROSS JOIN LATERAL (SELECT CASE WHEN i < :older
    THEN CAST(:start AS timestamptz) + i * (CAST(:month_start AS timestamptz) - :start) / :older
    ELSE CAST(:month_start AS timestamptz) + (i - :older) * (CAST(:now AS timestamptz)
         - :month_start) / :in_month END AS at) AS t
JOIN household h ON h.id = :first_household + (i * 7919) % :households
JOIN user_grid ug ON ug.grid_id = h.grid_id
ORDER BY i
"""

# What the visits service keeps on each household: the last visit, the last met visit and
# the schedule that follows from it (server.services.visit_policy.schedule, no ribbons).
_BIG_SCHEDULE = """
UPDATE household h SET last_visit_at = v.last_visit, last_met_at = v.last_met,
       next_due_at = COALESCE(v.last_met + h.visit_interval_days * interval '1 day',
                              h.created_at),
       due_from_at = COALESCE(v.last_met + h.visit_interval_days * interval '18 hours',
                              h.created_at)
FROM (SELECT household_id, max(visited_at) AS last_visit,
             max(visited_at) FILTER (WHERE outcome = 'met') AS last_met
      FROM visit WHERE household_id >= :first_household GROUP BY household_id) AS v
WHERE h.id = v.household_id
"""


def _fill_big(households: int, visits: int, in_month: int) -> dict[str, Any]:
    """The big community in SQL (generate_series, no rows through Python)."""
    began = time.perf_counter()
    org = _big_org(households)
    first_building = db.session.scalar(select(func.min(Building.id)).where(
        Building.community_id == org["community_id"]))
    buildings = db.session.scalar(select(func.count(Building.id)).where(
        Building.community_id == org["community_id"]))
    first_household = (db.session.scalar(select(func.max(Household.id))) or 0) + 1
    created = NOW - timedelta(days=760)
    db.session.execute(text(_BIG_HOUSEHOLDS), {
        "n": households, "first_building": first_building, "buildings": buildings,
        "created": created})
    assert db.session.scalar(select(func.min(Household.id)).where(
        Household.community_id == org["community_id"])) == first_household
    db.session.execute(text(_BIG_VISITS), {
        "visits": visits, "older": visits - in_month, "in_month": in_month,
        "start": NOW - timedelta(days=730), "month_start": NOW - timedelta(days=30),
        "now": NOW - timedelta(seconds=1), "first_household": first_household,
        "households": households})
    db.session.execute(text(_BIG_SCHEDULE), {"first_household": first_household})
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"\nloaded community {BIG_CODE}: {households:,} households in {BIG_GRIDS} grids, "
          f"{visits:,} visits ({in_month:,} in the month) in "
          f"{time.perf_counter() - began:.1f} s (generate_series, then VACUUM ANALYZE)")
    return org


def _measure_big(org: dict[str, Any], runs: int) -> None:
    """Coverage of the big community's month against a count(*) over the same visits."""
    secretary = db.session.get(User, org["secretary"])
    worker = db.session.get(User, org["workers"][0])
    month = (NOW - timedelta(days=30), NOW)

    def run_coverage() -> Any:
        return coverage(db.session, access_for(db.session, secretary), community=BIG_CODE,
                        grid=None, start=month[0], end=month[1], now=NOW)

    same_rows = select(func.count()).select_from(Visit).where(
        Visit.grid_id.in_(org["grids"]), Visit.visited_at >= month[0],
        Visit.visited_at < month[1])
    rows = db.session.scalar(same_rows)
    total = run_coverage()["total"]
    print(f"coverage result: {total['households']:,} households, {total['visits']:,} visits "
          f"in the month (count(*): {rows:,}), {total['coverage_pct']}% met; {load_average()}")
    baseline = samples_ms(lambda: db.session.scalar(same_rows), runs,
                          after=db.session.rollback)
    print(f"baseline: count(*) over the month's {rows:,} visits of {BIG_CODE}: "
          f"{summary(baseline)}")
    plans = _time(f"coverage, community {BIG_CODE}, one month", run_coverage, runs, baseline)

    def run_agenda() -> Any:
        lat, lon = db.session.execute(select(Household.lat, Household.lon).where(
            Household.grid_id == org["grids"][0]).limit(1)).one()
        return agenda(db.session, access_for(db.session, worker), now=NOW, lat=lat, lon=lon,
                      limit=50)

    per_grid = households_in(org["grids"][0])
    agenda_base = samples_ms(lambda: db.session.scalar(per_grid), runs,
                             after=db.session.rollback)
    print(f"baseline: count(*) over one grid's households: {summary(agenda_base)}")
    _time(f"agenda, one worker of {BIG_CODE}, 50 items", run_agenda, runs, agenda_base)
    print(f"{load_average()}\n\nQuery plans: coverage of {BIG_CODE}")
    _explain(plans)


def households_in(grid_id: int) -> Any:
    """``count(*)`` of one grid's households, a statement to time."""
    return select(func.count()).select_from(Household).where(Household.grid_id == grid_id)


if __name__ == "__main__":
    main()
