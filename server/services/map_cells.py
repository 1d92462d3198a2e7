"""Households counted per map cell from the pre-aggregated grid (PostgreSQL), exactly.

The model's docstring (``server/models/map_cells.py``) says what the tables hold. Here:

- ``cell_index_sql``: a household's cell at a level, the one formula both databases use;
- ``rebuild``: every cell from the households (after a bulk load or the migration);
- ``advance``: fold the pending changes in and move the clock to now, so reads stay short;
- ``cell_counts``: the counts per cell of a box, for readers who see whole grids. It adds,
  in the same statement (one snapshot), the changes not folded in yet and the households
  whose status or ``met`` turned between the clock and the reader's ``now`` and window.

Levels ``MIN_LEVEL`` to ``FINEST`` are kept (with 64-pixel clusters, zooms 4 to 16); a
coarser question groups ``MIN_LEVEL``'s rows, a finer one is not asked (points from zoom 17).
"""

# SQL is assembled here from constants and integers only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

__all__ = ["FINEST", "MIN_LEVEL", "MET_DAYS", "STALE_AFTER", "cell_index_sql",
           "rebuild", "advance", "ready_cells", "met_since_for",
           "cell_counts", "cell_range", "in_box"]

FINEST, MIN_LEVEL = 18, 6
MET_DAYS = 29  # the map's default window: today and the 29 days before (map.js)
STALE_AFTER = timedelta(minutes=5)  # a read older than this folds the changes in first
LOCK_KEY = 16_0005  # the advisory lock writers share and advance takes alone
ADVANCE_WAIT_MS = 200  # how long a stale read waits for the writers to let it advance
_COUNTS = ("n", "lat_sum", "lon_sum", "ribbon", "ok", "due", "overdue", "met")


def cell_index_sql(session: Session | None, column: str, offset: int, level: int) -> str:
    """SQL: the cell index of ``column`` (a latitude, offset 90, or longitude, 180) at ``level``.

    Computed at the finest level and divided down (integers), so both databases, the
    trigger and every level agree to the last household. The offset keeps values positive,
    so SQLite's truncating cast is a floor; PostgreSQL's cast rounds, hence its floor().
    ``session`` None means PostgreSQL.
    """
    value = f"({column} + {offset}.0) / 360.0 * {2 ** max(level, FINEST)}"
    if session is None or session.get_bind().dialect.name == "postgresql":
        index = f"CAST(floor({value}) AS INTEGER)"
    else:
        index = f"CAST({value} AS INTEGER)"
    return index if level >= FINEST else f"({index} / {2 ** (FINEST - level)})"


def met_since_for(now: datetime, zone: str) -> datetime:
    """Local midnight ``MET_DAYS`` days before ``now``'s day: where the map's window starts."""
    local = now.astimezone(ZoneInfo(zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=MET_DAYS)
    # Through the date, not the offset: a DST change between the two days stays right.
    return datetime.combine(start.date(), datetime.min.time(), tzinfo=ZoneInfo(zone))


def _contribution(t: str, s: str, prefix: str = "") -> list[str]:
    """SQL, one per count: a household's counts as of ``t``, ``met`` since ``s``."""
    p = prefix
    here = f"{p}moved_out_at IS NULL"
    return [
        "1", f"{p}lat", f"{p}lon",
        f"CASE WHEN {p}tags @> '[\"yellow_ribbon\"]'::jsonb THEN 1 ELSE 0 END",
        f"CASE WHEN {here} AND {p}due_from_at > {t} THEN 1 ELSE 0 END",
        f"CASE WHEN {here} AND {p}due_from_at <= {t} AND {p}next_due_at > {t} THEN 1 ELSE 0 END",
        f"CASE WHEN {here} AND {p}next_due_at <= {t} THEN 1 ELSE 0 END",
        f"CASE WHEN {p}last_met_at >= {s} THEN 1 ELSE 0 END"]


def _fold(source: str, level_from: int) -> str:
    """SQL: add ``source``'s rows (finest-level cx, cy) into every kept level."""
    sums = ", ".join(f"sum({c})" for c in _COUNTS)
    updates = ", ".join(f"{c} = map_cell.{c} + excluded.{c}" for c in _COUNTS)
    return (f"INSERT INTO map_cell (level, grid_id, cy, cx, {', '.join(_COUNTS)}) "
            f"SELECT lv, grid_id, cy / (1 << ({level_from} - lv)), "
            f"cx / (1 << ({level_from} - lv)), "
            f"{sums} FROM ({source}) src, generate_series({MIN_LEVEL}, {level_from}) lv "
            f"GROUP BY 1, 2, 3, 4 ON CONFLICT (level, grid_id, cy, cx) DO UPDATE SET {updates}")


def _household_rows(t: str, s: str, where: str, sign: str = "") -> str:
    """SQL: the households matching ``where`` as finest-level change rows (``sign``: -)."""
    parts = _contribution(t, s)
    counts = ", ".join(f"{sign}({expr}) AS {name}"
                       for expr, name in zip(parts, _COUNTS, strict=True))
    cy, cx = cell_index_sql(None, "lat", 90, FINEST), cell_index_sql(None, "lon", 180, FINEST)
    return (f"SELECT coalesce(grid_id, 0) AS grid_id, {cy} AS cy, {cx} AS cx, {counts} "
            f"FROM household WHERE {where}")


def rebuild(session: Session | Connection, now: datetime, zone: str) -> None:
    """Count every cell from the households again, as of ``now`` (PostgreSQL only)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    session.execute(text("DELETE FROM map_cell"))
    session.execute(text("DELETE FROM map_cell_change"))
    params = {"t": now, "s": met_since_for(now, zone)}
    session.execute(text(_fold(_household_rows(":t", ":s", "true"), FINEST)), params)
    session.execute(text(
        "INSERT INTO map_cell_clock (id, as_of, met_since) VALUES (1, :t, :s) "
        "ON CONFLICT (id) DO UPDATE SET as_of = excluded.as_of, met_since = excluded.met_since"),
        params)
    if isinstance(session, Session):
        session.flush()


def _take_lock(session: Session, wait_ms: int) -> bool:
    """The advisory lock alone, waiting at most ``wait_ms`` for the writers holding it.

    Writers hold it shared for their transaction only, so a busy hour still has gaps; a
    bounded wait finds one without holding a writer up for longer than that.
    """
    if wait_ms <= 0:
        return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                    {"k": LOCK_KEY}).scalar())
    saved = session.execute(text("SELECT current_setting('lock_timeout')")).scalar()
    try:
        with session.begin_nested():
            session.execute(text("SELECT set_config('lock_timeout', :ms, true)"),
                            {"ms": f"{wait_ms}ms"})
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    except OperationalError:  # lock_timeout: writers kept it; the next read tries again
        return False
    finally:
        session.execute(text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": saved})
    return True


def advance(session: Session, now: datetime, zone: str, wait_ms: int = 0) -> bool:
    """Fold pending changes in and move the clock to ``now``; False if the lock was not
    had (another advance, or writers for longer than ``wait_ms``)."""
    if not _take_lock(session, wait_ms):
        return False
    clock = session.execute(text(
        "SELECT as_of, met_since FROM map_cell_clock WHERE id = 1")).first()
    if clock is None or now <= clock.as_of:
        return False
    session.execute(text(_fold(
        "SELECT grid_id, cy, cx, " + ", ".join(_COUNTS) + " FROM map_cell_change", FINEST)))
    session.execute(text("DELETE FROM map_cell_change"))
    params = {"t0": clock.as_of, "s0": clock.met_since, "t1": now,
              "s1": met_since_for(now, zone)}
    turned = ("(due_from_at > :t0 AND due_from_at <= :t1) OR (next_due_at > :t0 AND "
              "next_due_at <= :t1) OR (last_met_at >= least(:s0, :s1) AND "
              "last_met_at < greatest(:s0, :s1))")
    source = (_household_rows(":t1", ":s1", turned) + " UNION ALL "
              + _household_rows(":t0", ":s0", turned, sign="-"))
    session.execute(text(_fold(source, FINEST)), params)
    session.execute(text("DELETE FROM map_cell WHERE n = 0"))
    session.execute(text("UPDATE map_cell_clock SET as_of = :t1, met_since = :s1 WHERE id = 1"),
                    params)
    session.flush()
    return True


def ready_cells(session: Session, now: datetime, zone: str) -> bool:
    """Whether the cells can answer (PostgreSQL, counted once); the clock is advanced first
    when it is older than ``STALE_AFTER`` (a read's correction grows with its age)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    as_of = session.execute(text("SELECT as_of FROM map_cell_clock WHERE id = 1")).scalar()
    if as_of is None:
        return False
    if now - as_of > STALE_AFTER:
        advance(session, now, zone, wait_ms=ADVANCE_WAIT_MS)
    return True


_GIS: dict[str, str | None] = {}


def _gis_schema(session: Session) -> str | None:
    """The schema PostGIS lives in, if this database has it and the household GiST index."""
    bind = session.get_bind()
    key = str(bind.engine.url)
    if key not in _GIS:
        _GIS[key] = session.execute(text(
            "SELECT extnamespace::regnamespace::text FROM pg_extension "
            "WHERE extname = 'postgis' AND to_regclass('gix_household_point') IS NOT NULL")
        ).scalar()
    return _GIS[key]


def in_box(session: Session, lat: Any, lon: Any,
           bbox: tuple[float, float, float, float]) -> list[Any]:
    """SQL clauses: the point (``lat``, ``lon``) in ``bbox``, edges included.

    With PostGIS, also ``&&`` on the point expression the GiST indexes cover, so the box
    is found through the index whatever the city's size.
    """
    south, west, north, east = bbox
    gis = _gis_schema(session) if session.get_bind().dialect.name == "postgresql" else None
    if not gis:
        return [lat.between(south, north), lon.between(west, east)]
    # A point && a box is the same test, edges included; one clause keeps the estimates sane.
    fn = getattr(func, gis)
    point = fn.st_setsrid(fn.st_makepoint(lon, lat), 4326)
    overlaps = point.op(f"OPERATOR({gis}.&&)")  # named with its schema: it may be off the path
    return [overlaps(fn.st_makeenvelope(west, south, east, north, 4326))]


def cell_range(bbox: tuple[float, float, float, float],
               level: int) -> tuple[int, int, int, int]:
    """The cells (y0, x0, y1, x1) a box touches at ``level``, as the SQL formula numbers them."""
    south, west, north, east = bbox
    scale = 2 ** FINEST / 360.0
    div = 2 ** max(0, FINEST - level)
    return (int((south + 90.0) * scale) // div, int((west + 180.0) * scale) // div,
            int((north + 90.0) * scale) // div, int((east + 180.0) * scale) // div)


def _scope(grids: list[int] | None, column: str, grid_id: int | None,
           params: dict[str, Any]) -> str:
    """SQL: rows of ``grids`` (None: every grid), and of ``grid_id``, by the column ``column``."""
    clauses = ["true"]
    if grids is not None:
        clauses.append(f"{column} = ANY(:grids)")
        params["grids"] = grids
    if grid_id is not None:
        clauses.append(f"{column} = :grid_id")
        params["grid_id"] = grid_id
    return " AND ".join(clauses)


def _turned_rows(level: int, params: dict[str, Any], scope: str) -> str:
    """SQL: per household whose counts differ between the clock and the reader, the difference.

    Those are the households whose due or overdue time passed since ``as_of``, whose last
    meeting lies between the clock's ``met_since`` and the reader's ``start``, or at or after
    the reader's ``end``: a handful when the clock is minutes old.
    """
    now_rows = _contribution(":now", ":start", "h.")
    now_rows[-1] = "CASE WHEN h.last_met_at >= :start AND h.last_met_at < :end THEN 1 ELSE 0 END"
    then_rows = _contribution(":t0", ":s0", "h.")
    diff = ", ".join(f"({a}) - ({b})" for a, b in zip(now_rows, then_rows, strict=True))
    y0, x0, y1, x1 = params["y0"], params["x0"], params["y1"], params["x1"]
    edge = 360.0 / 2 ** level
    params.update(lat0=y0 * edge - 90.0 - 1e-9, lat1=(y1 + 1) * edge - 90.0 + 1e-9,
                  lon0=x0 * edge - 180.0 - 1e-9, lon1=(x1 + 1) * edge - 180.0 + 1e-9)
    gy, gx = cell_index_sql(None, "h.lat", 90, level), cell_index_sql(None, "h.lon", 180, level)
    # The clock as values (t0, s0), not a join: the planner sees the time ranges are narrow
    # and reads them from the time indexes.
    return f"""
        SELECT {gy}, {gx}, {diff}
        FROM household h
        WHERE {scope}
          AND ((h.due_from_at > :t0 AND h.due_from_at <= :now)
               OR (h.next_due_at > :t0 AND h.next_due_at <= :now)
               OR (h.last_met_at >= :met_lo AND h.last_met_at < :met_hi)
               OR h.last_met_at >= :end)
          AND h.lat BETWEEN :lat0 AND :lat1 AND h.lon BETWEEN :lon0 AND :lon1
          AND {gy} BETWEEN :y0 AND :y1 AND {gx} BETWEEN :x0 AND :x1"""


def cell_counts(session: Session, grids: list[int] | None, *,
                bbox: tuple[float, float, float, float], level: int, now: datetime,
                start: datetime, end: datetime,
                grid_id: int | None = None) -> list[dict[str, Any]]:
    """Households per cell of ``level`` in the cells ``bbox`` touches, met in ``[start, end)``.

    ``grids``: the reader's (``scopes.map_cell_grids``; None: every grid); ``end >= now``;
    the caller checks ``ready_cells``. Cells with no household are left out. One statement
    reads the cells, the pending changes and the turned households in one snapshot.
    """
    stored = max(MIN_LEVEL, min(level, FINEST))
    div, fine_div = 2 ** (stored - level), 2 ** (FINEST - level)
    y0, x0, y1, x1 = cell_range(bbox, level)
    params: dict[str, Any] = {"y0": y0, "x0": x0, "y1": y1, "x1": x1, "now": now,
                              "start": start, "end": end, "div": div, "fdiv": fine_div,
                              "sy0": y0 * div, "sy1": (y1 + 1) * div - 1,
                              "sx0": x0 * div, "sx1": (x1 + 1) * div - 1}
    scope = _scope(grids, "grid_id", grid_id, params)
    cols = ", ".join(_COUNTS)
    sql = f"""
        WITH counted AS (
            SELECT cy / :div AS gy, cx / :div AS gx, {cols} FROM map_cell
            WHERE level = {stored} AND {scope}
              AND cy BETWEEN :sy0 AND :sy1 AND cx BETWEEN :sx0 AND :sx1
            UNION ALL
            SELECT cy / :fdiv, cx / :fdiv, {cols} FROM map_cell_change
            WHERE {scope} AND cy / :fdiv BETWEEN :y0 AND :y1 AND cx / :fdiv BETWEEN :x0 AND :x1
            UNION ALL
            {_turned_rows(level, params, _scope(grids, "h.grid_id", grid_id, params))})
        SELECT gy, gx, {', '.join(f'sum({c}) AS {c}' for c in _COUNTS)} FROM counted
        GROUP BY gy, gx HAVING sum(n) > 0 ORDER BY gy, gx"""
    clock = _clock(session)
    for _attempt in range(5):
        params.update(t0=clock[0], s0=clock[1], met_lo=min(clock[1], start),
                      met_hi=max(clock[1], start))
        rows = [dict(row._mapping) for row in session.execute(text(sql), params)]
        # The clock read before and after is the same: no advance came in between, so the
        # statement read the cells as of that clock (an advance changes as_of and the cells
        # in one commit).
        after = _clock(session)
        if after == clock:
            return rows
        clock = after
    return rows


def _clock(session: Session) -> tuple[datetime, datetime]:
    row = session.execute(text("SELECT as_of, met_since FROM map_cell_clock WHERE id = 1")).one()
    return row.as_of, row.met_since
