"""The city the scale bench measures: N households in communities of 5,000, three visits each.

Built in SQL (generate_series) straight into a database of its own per size, kept between
runs: ``gridwork_scale_10k``, ``gridwork_scale_100k``, ``gridwork_scale_1m`` on the server of
``--url``. Communities (6 grids of about 1 x 1 km, 36 buildings a grid) tile a lattice, so a
bigger city is a wider one at the same density, as a real city is. One worker per grid, one
secretary per community, one city admin who sees the whole city.
"""

# The SQL is built from this module's constants and integers, never from input.
# ruff: noqa: S608

from __future__ import annotations

import math
import time
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

__all__ = ["HOUSEHOLDS_PER_COMMUNITY", "SOUTH", "WEST", "COMMUNITY_DEG", "database_url",
           "ensure_database", "community_origin", "expected_households"]

HOUSEHOLDS_PER_COMMUNITY = 5_000
GRIDS_PER_COMMUNITY, BUILDINGS_PER_GRID = 6, 36
VISITS_PER_HOUSEHOLD = 3
SOUTH, WEST = 29.60, 113.70  # 赤壁's latitude, more or less
COMMUNITY_DEG = (0.02, 0.03)  # lat, lon: 2 rows x 3 columns of 0.01-degree grids
MARKER = "gridwork scale bench city"


def database_url(base: str, households: int) -> str:
    """The URL of the database that holds the city of ``households``."""
    label = f"{households // 1_000_000}m" if households >= 1_000_000 else f"{households // 1000}k"
    root = base.rsplit("/", 1)[0]
    if root.startswith("postgresql://"):
        root = "postgresql+psycopg://" + root[len("postgresql://"):]
    return f"{root}/gridwork_scale_{label}"


def community_origin(index: int, communities: int) -> tuple[float, float]:
    """South-west corner (lat, lon) of community ``index`` in the city's lattice."""
    cols = math.ceil(math.sqrt(communities * COMMUNITY_DEG[0] / COMMUNITY_DEG[1]))
    row, col = divmod(index, cols)
    return SOUTH + row * COMMUNITY_DEG[0], WEST + col * COMMUNITY_DEG[1]


def expected_households(households: int) -> int:
    """How many households the city of ``households`` holds: whole grids of 833."""
    communities = max(1, households // HOUSEHOLDS_PER_COMMUNITY)
    return communities * GRIDS_PER_COMMUNITY * (HOUSEHOLDS_PER_COMMUNITY // GRIDS_PER_COMMUNITY)


def _exists(admin: Engine, name: str) -> bool:
    with admin.connect() as conn:
        return bool(conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": name}))


def _built(engine: Engine, households: int) -> bool:
    with engine.connect() as conn:
        try:
            found = conn.scalar(text("SELECT name FROM community WHERE code = 'SCALE'"))
            count = conn.scalar(text("SELECT max(id) FROM household"))
        except Exception:  # noqa: BLE001 - an empty or half-built database: build again
            return False
    return found == MARKER and count == expected_households(households)


def ensure_database(base: str, households: int, build_schema: Any, finish: Any) -> str:
    """Create and fill the database for ``households`` unless a finished one is there.

    ``build_schema(url)`` makes the tables (the migrations) in the empty database; the rows
    go in with triggers off, then ``finish(url)`` builds what the triggers would have kept.
    """
    url = database_url(base, households)
    name = url.rsplit("/", 1)[1]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        if _exists(admin, name):
            engine = create_engine(url)
            done = _built(engine, households)
            engine.dispose()
            if done:
                return url
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    began = time.perf_counter()
    build_schema(url)
    engine = create_engine(url)
    try:
        _fill(engine, households)
    finally:
        engine.dispose()
    finish(url)
    print(f"built {name}: {households:,} households, {households * VISITS_PER_HOUSEHOLD:,} "
          f"visits in {time.perf_counter() - began:.0f} s", flush=True)
    return url


def _org_sql(communities: int) -> list[str]:
    cols = math.ceil(math.sqrt(communities * COMMUNITY_DEG[0] / COMMUNITY_DEG[1]))
    g, b = GRIDS_PER_COMMUNITY, BUILDINGS_PER_GRID
    return [
        # A marker community (no grids) says the database is a finished bench city.
        "INSERT INTO community (id, code, name, created_at) "
        f"VALUES (0, 'SCALE', '{MARKER}', now())",
        f"""INSERT INTO community (id, code, name, created_at)
            SELECT c, 'S' || lpad(c::text, 4, '0'), '社区' || c, now()
            FROM generate_series(1, {communities}) c""",
        # Grid k of community c: 3 columns x 2 rows of 0.01 degrees.
        f"""INSERT INTO grid (id, community_id, code, name, boundary, min_lat, min_lon,
                              max_lat, max_lon, updated_at)
            SELECT (c - 1) * {g} + k + 1, c, 'S' || lpad(c::text, 4, '0') || '-G' || k,
                   '网格' || k, json_build_object('type', 'Polygon', 'coordinates',
                     json_build_array(json_build_array(
                       json_build_array(w, s), json_build_array(w + 0.01, s),
                       json_build_array(w + 0.01, s + 0.01), json_build_array(w, s + 0.01),
                       json_build_array(w, s)))),
                   s, w, s + 0.01, w + 0.01, now()
            FROM generate_series(1, {communities}) c, generate_series(0, {g - 1}) k,
                 LATERAL (SELECT {SOUTH} + ((c - 1) / {cols}) * {COMMUNITY_DEG[0]}
                                 + (k / 3) * 0.01 AS s,
                                 {WEST} + ((c - 1) % {cols}) * {COMMUNITY_DEG[1]}
                                 + (k % 3) * 0.01 AS w) corner""",
        f"""INSERT INTO building (id, community_id, grid_id, code, name, lat, lon, units)
            SELECT (gr.id - 1) * {b} + n + 1, gr.community_id, gr.id,
                   gr.code || '-B' || n, n || '栋',
                   gr.min_lat + 0.0008 + (n / 6) * 0.0016, gr.min_lon + 0.0008 + (n % 6) * 0.0016, 2
            FROM grid gr, generate_series(0, {b - 1}) n""",
        f"""INSERT INTO user_account (id, username, display_name, role, password_hash, active,
                                      community_id, created_at)
            SELECT gr.id, 'w' || gr.code, '网格员' || gr.id, 'grid_worker', 'x', true,
                   gr.community_id, now() FROM grid gr
            UNION ALL
            SELECT 1000000 + c, 'sec' || c, '书记' || c, 'secretary', 'x', true, c, now()
            FROM generate_series(1, {communities}) c
            UNION ALL
            SELECT 2000000, 'city', '城市管理员', 'admin', 'x', true, NULL, now()""",
        "INSERT INTO user_grid (user_id, grid_id) SELECT id, id FROM grid",
    ]


def _people_sql(households: int) -> list[str]:
    per_grid = HOUSEHOLDS_PER_COMMUNITY // GRIDS_PER_COMMUNITY
    tags = """CASE WHEN r < 0.06 THEN '["elderly_alone"]' WHEN r < 0.16 THEN '["elderly"]'
                   WHEN r < 0.20 THEN '["disabled"]' WHEN r < 0.22 THEN '["seriously_ill"]'
                   WHEN r < 0.27 THEN '["low_income"]' WHEN r < 0.30 THEN '["left_behind_child"]'
                   WHEN r < 0.33 THEN '["veteran"]' WHEN r < 0.335 THEN '["yellow_ribbon"]'
                   ELSE '[]' END"""
    interval = """CASE coalesce(tags->>0, '') WHEN 'yellow_ribbon' THEN 3
                  WHEN 'elderly_alone' THEN 7 WHEN 'seriously_ill' THEN 7 WHEN 'veteran' THEN 30
                  WHEN '' THEN 90 ELSE 14 END"""
    visits = households * VISITS_PER_HOUSEHOLD
    return [
        "SELECT setseed(0.16)",
        # Household i: grid (i - 1) / per_grid + 1, a building of that grid.
        f"""INSERT INTO household (id, community_id, grid_id, building_id, unit, door, code,
                                   head_name, members, lat, lon, tags, notes,
                                   visit_interval_days, priority, due_from_at, next_due_at,
                                   created_at, updated_at)
            SELECT i, bl.community_id, bl.grid_id, bl.id, '1', (i % 40)::text, 'H' || i,
                   '户主', 2, bl.lat, bl.lon, ({tags})::jsonb, '', 90, false,
                   now() - interval '760 days', now() - interval '760 days',
                   now() - interval '760 days', now() - interval '760 days'
            FROM (SELECT i, random() AS r, (i - 1) / {per_grid} + 1 AS grid_id,
                         floor(random() * {BUILDINGS_PER_GRID})::int AS n
                  FROM generate_series(1, {households}) i) h
            JOIN building bl ON bl.id = (h.grid_id - 1) * {BUILDINGS_PER_GRID} + h.n + 1""",
        # Visits arrive in time order on a live server: ids follow visited_at.
        f"""INSERT INTO visit (id, client_uuid, body_sha256, household_id, worker_id, grid_id,
                               visited_at, received_at, lat, lon, accuracy_m, input_crs,
                               distance_m, outcome, notes, flags, off_site)
            SELECT row_number() OVER (ORDER BY at), md5('v' || j)::uuid::text, repeat('0', 64),
                   hh.id, hh.grid_id, hh.grid_id, at, at, hh.lat + 0.00002, hh.lon, 10,
                   'wgs84', CASE WHEN off THEN 400 ELSE 8 END,
                   CASE WHEN r < 0.76 THEN 'met' WHEN r < 0.9 THEN 'not_home' ELSE 'refused' END,
                   '', CASE WHEN off THEN '["off_site"]'::jsonb ELSE '[]'::jsonb END, off
            FROM (SELECT j, 1 + floor(random() * {households})::int AS hid,
                         now() - random() * interval '730 days' AS at, random() AS r,
                         random() < 0.07 AS off
                  FROM generate_series(1, {visits}) j) v
            JOIN household hh ON hh.id = v.hid""",
        """UPDATE household hh SET last_visit_at = v.last_visit, last_met_at = v.last_met
           FROM (SELECT household_id, max(visited_at) AS last_visit,
                        max(visited_at) FILTER (WHERE outcome = 'met') AS last_met
                 FROM visit GROUP BY household_id) v
           WHERE v.household_id = hh.id""",
        f"""UPDATE household SET visit_interval_days = {interval},
                  priority = {interval} < 90,
                  next_due_at = coalesce(last_met_at + make_interval(days => {interval}),
                                         created_at),
                  due_from_at = coalesce(last_met_at + make_interval(days => {interval})
                                         - make_interval(days => {interval}) / 4, created_at)""",
    ]


def _fill(engine: Engine, households: int) -> None:
    communities = max(1, households // HOUSEHOLDS_PER_COMMUNITY)
    with engine.begin() as conn:
        # Bulk rows: no per-row triggers (the aggregates are built once afterwards).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in _org_sql(communities) + _people_sql(households):
            conn.execute(text(statement))
        for table in ("community", "grid", "building", "user_account", "household", "visit"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
