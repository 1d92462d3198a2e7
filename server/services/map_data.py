"""The visit map's data, computed in SQL: what is in view, clustered by zoom, and tracks.

A city holds 100,000 households; the page never loads them all. It asks for its bounding
box and zoom: zoomed out, households are aggregated into square cells whose edge is a fixed
number of screen pixels at that zoom (GROUP BY the cell); zoomed in, they come one by one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, literal_column, select
from sqlalchemy.orm import Session

from server.errors import UnprocessableError
from server.models import Building, Grid, Household, Role, User, Visit, user_grids
from server.services.access import Access
from server.services.coverage import met_in_window
from server.services.households import status_clause, tag_clause
from server.services.map_cells import (
    FINEST,
    cell_counts,
    cell_index_sql,
    cell_range,
    in_box,
    ready_cells,
)
from server.services.scopes import (
    building_scope,
    grid_scope,
    household_scope,
    map_cell_grids,
    visit_scope,
    worker_scope,
)
from server.services.visits import visit_query

__all__ = ["BBox", "cluster_level", "cell_degrees", "household_view", "buildings_in_view",
           "visits_in_view", "worker_day", "map_workers", "day_bounds", "default_period",
           "grid_extent"]

BBox = tuple[float, float, float, float]  # south, west, north, east


def cluster_level(zoom: int, cell_px: int) -> int:
    """The cell level of clusters ``cell_px`` pixels wide at ``zoom`` (px to a power of 2)."""
    return zoom + 8 - max(0, round(math.log2(max(1, cell_px))))


def cell_degrees(zoom: int, cell_px: int) -> float:
    """The edge in degrees of a cluster cell about ``cell_px`` pixels wide at ``zoom``."""
    return 360.0 / 2 ** cluster_level(zoom, cell_px)


def default_period(start: datetime | None, end: datetime | None,
                   now: datetime) -> tuple[datetime, datetime]:
    """The period ``[start, end)``; by default the 30 days up to now."""
    end = end or now
    return start or end - timedelta(days=30), end


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """A local day as ``[start, end)`` in aware datetimes."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def _cell(session: Session, column: Any, offset: int, level: int) -> Any:
    """SQL: the index of the cell ``column`` falls in at ``level`` (map_cells' formula)."""
    return literal_column(cell_index_sql(session, column, offset, level))


def _in_cells(session: Session, access: Access, bbox: BBox, level: int,
              grid_code: str | None) -> list[Any]:
    """SQL: the households in scope in the cells ``bbox`` touches at ``level``."""
    y0, x0, y1, x1 = cell_range(bbox, level)
    edge = 360.0 / 2 ** min(level, FINEST)
    clauses = [household_scope(access), *in_box(session, Household.lat, Household.lon, (
        y0 * edge - 90.0 - 1e-9, x0 * edge - 180.0 - 1e-9,
        (y1 + 1) * edge - 90.0 + 1e-9, (x1 + 1) * edge - 180.0 + 1e-9)),
        _cell(session, "household.lat", 90, level).between(y0, y1),
        _cell(session, "household.lon", 180, level).between(x0, x1)]
    if grid_code:
        clauses.append(Household.grid_id == _grid_id(grid_code))
    return clauses


def _grid_id(grid_code: str) -> Any:
    return select(Grid.id).where(Grid.code == grid_code).scalar_subquery()


def _in_view(session: Session, access: Access, bbox: BBox, grid_code: str | None) -> list[Any]:
    """SQL: the households in scope, in ``bbox`` (and in the grid ``grid_code``)."""
    clauses = [household_scope(access), *in_box(session, Household.lat, Household.lon, bbox)]
    if grid_code:
        clauses.append(Household.grid_id == _grid_id(grid_code))
    return clauses


def _visited(access: Access, start: datetime, end: datetime, now: datetime) -> Any:
    """SQL, per household: met in ``[start, end)``, coverage's definition (an older window:
    by visits in the reader's scope)."""
    return met_in_window(start, end, now, visit_scope(access))


def _count_columns(session: Session, now: datetime, visited: Any) -> list[Any]:
    def count_if(clause: Any) -> Any:
        return func.coalesce(func.sum(case((clause, 1), else_=0)), 0)

    return [func.count(Household.id).label("n"),
            count_if(status_clause(["ok"], now)).label("ok"),
            count_if(status_clause(["due"], now)).label("due"),
            count_if(status_clause(["overdue"], now)).label("overdue"),
            count_if(tag_clause(session, "yellow_ribbon")).label("ribbon"),
            count_if(visited).label("visited")]


_COUNT_KEYS = ("ok", "due", "overdue", "ribbon", "visited")


def _cluster(lat: float, lon: float, n: int, counts: Mapping[str, Any]) -> dict[str, Any]:
    return {"lat": lat, "lon": lon, "count": n, **{k: int(counts[k]) for k in _COUNT_KEYS}}


def _clusters(session: Session, access: Access, bbox: BBox, grid_code: str | None,
              level: int, period: tuple[datetime, datetime], now: datetime,
              zone: str) -> list[dict[str, Any]]:
    """Households per cell of ``level`` over the cells the box touches, in cell order."""
    start, end = period
    grids = map_cell_grids(access)
    if grids is not False and end >= now and level <= FINEST \
            and ready_cells(session, now, zone):
        assert grids is None or isinstance(grids, list)
        grid_id = session.scalar(select(Grid.id).where(Grid.code == grid_code)) \
            if grid_code else None
        if grid_code and grid_id is None:
            return []
        rows = cell_counts(session, grids, bbox=bbox, level=level, now=now, start=start,
                           end=end, grid_id=grid_id)
        return [_cluster(r["lat_sum"] / r["n"], r["lon_sum"] / r["n"], int(r["n"]),
                         {**r, "visited": r["met"]}) for r in rows]
    gy = _cell(session, "household.lat", 90, level).label("gy")
    gx = _cell(session, "household.lon", 180, level).label("gx")
    query = (select(gy, gx, func.sum(Household.lat).label("lat"),
                    func.sum(Household.lon).label("lon"),
                    *_count_columns(session, now, _visited(access, start, end, now)))
             .where(*_in_cells(session, access, bbox, level, grid_code))
             .group_by(gy, gx).order_by(gy, gx))
    return [_cluster(float(r.lat) / r.n, float(r.lon) / r.n, int(r.n), dict(r._mapping))
            for r in session.execute(query)]


def _box_counts(session: Session, access: Access, bbox: BBox, grid_code: str | None,
                period: tuple[datetime, datetime], now: datetime) -> dict[str, int]:
    """The counts over the households exactly in ``bbox`` (a points view: few rows)."""
    row = session.execute(select(*_count_columns(session, now, _visited(
        access, *period, now))).where(*_in_view(session, access, bbox, grid_code))).one()
    return {"total": int(row.n), **{k: int(getattr(row, k)) for k in _COUNT_KEYS}}


def _points(session: Session, access: Access, bbox: BBox, grid_code: str | None,
            now: datetime, visited: Any, limit: int) -> list[dict[str, Any]]:
    status = case((status_clause(["moved_out"], now), literal("moved_out")),
                  (status_clause(["overdue"], now), literal("overdue")),
                  (status_clause(["due"], now), literal("due")), else_=literal("ok"))
    query = (select(Household.id, Household.lat, Household.lon, Household.grid_id,
                    Household.unit, Household.door, Building.code.label("building"),
                    status.label("status"),
                    tag_clause(session, "yellow_ribbon").label("ribbon"),
                    case((visited, True), else_=False).label("visited"))
             .select_from(Household)
             .outerjoin(Building, Building.id == Household.building_id)
             .where(*_in_view(session, access, bbox, grid_code))
             .order_by(Household.id).limit(limit))
    return [{"id": r.id, "lat": r.lat, "lon": r.lon, "grid_id": r.grid_id,
             "status": r.status, "ribbon": bool(r.ribbon), "visited": bool(r.visited),
             "label": " · ".join(p for p in (r.building, r.unit, r.door) if p)}
            for r in session.execute(query)]


def household_view(session: Session, access: Access, *, bbox: BBox, zoom: int,
                   start: datetime, end: datetime, now: datetime, cell_px: int,
                   points_min_zoom: int, max_points: int,
                   grid_code: str | None = None, zone: str = "Asia/Shanghai") -> dict[str, Any]:
    """Households in ``bbox``: clusters at low zoom, points at high zoom or when few.

    Clusters are square cells (``cell_deg`` on a side, nested level to level) over every
    cell the box touches, and their counts cover those cells; a points view counts the
    households in the box itself. Counts: by status (as of now), open yellow ribbons, met in
    ``[start, end)``. No names or numbers: a point carries its building, unit and door.
    On PostgreSQL the cells come from the pre-aggregated grid (``map_cells``), the same
    answer as counting the households, which SQLite does.
    """
    access.require("households.read")
    level = cluster_level(zoom, cell_px)
    clusters: list[dict[str, Any]] = []
    if zoom < points_min_zoom:
        clusters = _clusters(session, access, bbox, grid_code, level, (start, end), now, zone)
    answer: dict[str, Any] = {"zoom": zoom, "truncated": False}
    if zoom >= points_min_zoom or sum(c["count"] for c in clusters) <= max_points:
        visited = _visited(access, start, end, now)
        points = _points(session, access, bbox, grid_code, now, visited, max_points)
        counts = _box_counts(session, access, bbox, grid_code, (start, end), now)
        answer.update(mode="points", cell_deg=None, clusters=[], points=points, counts=counts,
                      truncated=counts["total"] > len(points))
    else:
        counts = {"total": sum(c["count"] for c in clusters),
                  **{k: sum(c[k] for c in clusters) for k in _COUNT_KEYS}}
        answer.update(mode="clusters", cell_deg=360.0 / 2 ** level, clusters=clusters,
                      points=[], counts=counts)
    return answer


def buildings_in_view(session: Session, access: Access, bbox: BBox) -> list[dict[str, Any]]:
    """Buildings in ``bbox`` (in the reader's geography) with their household counts."""
    households = (select(func.count(Household.id)).where(Household.building_id == Building.id)
                  .correlate(Building).scalar_subquery())
    query = (select(Building, households)
             .where(building_scope(access), *in_box(session, Building.lat, Building.lon, bbox))
             .order_by(Building.code).limit(5000))
    return [{"id": b.id, "code": b.code, "name": b.name, "lat": b.lat, "lon": b.lon,
             "grid_id": b.grid_id, "households": int(n)} for b, n in session.execute(query)]


def _visit_rows(session: Session, query: Any) -> list[dict[str, Any]]:
    # A correlated lookup, not a join: the planner cannot guess how few visits a box holds.
    name = select(User.display_name).where(User.id == Visit.worker_id).scalar_subquery()
    rows = session.execute(query.add_columns(name))
    return [{"id": v.id, "household_id": v.household_id, "worker_id": v.worker_id,
             "worker": name, "grid_id": v.grid_id, "visited_at": v.visited_at, "lat": v.lat,
             "lon": v.lon, "distance_m": v.distance_m, "outcome": v.outcome,
             "off_site": bool(v.off_site)} for v, name in rows]


def visits_in_view(session: Session, access: Access, *, bbox: BBox | None, start: datetime,
                   end: datetime, worker_id: int | None, outcome: str | None,
                   limit: int) -> dict[str, Any]:
    """Visits of ``[start, end)`` in ``bbox``, newest first (at most ``limit``), with counts."""
    access.require("visits.read")
    query = visit_query(access, {"worker_id": worker_id, "outcome": outcome}, start, end)
    if bbox is not None:
        query = query.where(*in_box(session, Visit.lat, Visit.lon, bbox))
    where = query.whereclause
    assert where is not None  # the scope clause is always there
    counted = session.execute(
        select(Visit.outcome, func.count(Visit.id),
               func.coalesce(func.sum(case((Visit.off_site.is_(True), 1), else_=0)), 0))
        .where(where).group_by(Visit.outcome)).all()
    by_outcome = {outcome: int(n) for outcome, n, _off in counted}
    off_site = sum(int(off) for _outcome, _n, off in counted)
    total = sum(by_outcome.values())
    items = _visit_rows(session, query.order_by(Visit.visited_at.desc(), Visit.id.desc())
                        .limit(limit)) if limit else []
    return {"mode": "period", "total": total, "off_site": off_site, "by_outcome": by_outcome,
            "truncated": total > len(items), "items": items}


def worker_day(session: Session, access: Access, *, worker_id: int | None, day: date,
               zone: str, limit: int) -> dict[str, Any]:
    """One worker's visits on a local day in time order: the patrol track (巡查轨迹)."""
    access.require("visits.read")
    if worker_id is None:
        if access.role is not Role.GRID_WORKER:
            raise UnprocessableError("Choose a worker for the day's track.",
                                     errors={"worker": ["Required with day."]})
        worker_id = access.user.id
    start, end = day_bounds(day, zone)
    query = visit_query(access, {"worker_id": worker_id}, start, end)
    items = _visit_rows(session, query.order_by(Visit.visited_at, Visit.id).limit(limit))
    off_site = sum(1 for v in items if v["off_site"])
    by_outcome: dict[str, int] = {}
    for v in items:
        by_outcome[v["outcome"]] = by_outcome.get(v["outcome"], 0) + 1
    return {"mode": "track", "total": len(items), "off_site": off_site,
            "by_outcome": by_outcome, "truncated": len(items) >= limit > 0, "items": items}


def map_workers(session: Session, access: Access) -> list[dict[str, Any]]:
    """The grid workers of the reader's grids (the people the visit filter offers)."""
    access.require("visits.read")
    rows = session.execute(
        select(User.id, User.display_name, User.role, Grid.code)
        .join(user_grids, user_grids.c.user_id == User.id)
        .join(Grid, Grid.id == user_grids.c.grid_id)
        .where(User.active, User.role == Role.GRID_WORKER.value,
               worker_scope(access))
        .order_by(User.display_name, User.id, Grid.code))
    workers: dict[int, dict[str, Any]] = {}
    for uid, name, role, grid in rows:
        workers.setdefault(uid, {"id": uid, "name": name, "role": role, "grids": []})
        workers[uid]["grids"].append(grid)
    return list(workers.values())



def grid_extent(session: Session, access: Access) -> BBox | None:
    """The box around the reader's grids (south, west, north, east), for the first view."""
    row = session.execute(select(func.min(Grid.min_lat), func.min(Grid.min_lon),
                                 func.max(Grid.max_lat), func.max(Grid.max_lon))
                          .where(grid_scope(access))).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])
