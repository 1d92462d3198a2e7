"""The visit map's data, computed in SQL: what is in view, clustered by zoom, and tracks.

A city holds 100,000 households; the page never loads them all. It asks for its bounding
box and zoom: zoomed out, households are aggregated into square cells whose edge is a fixed
number of screen pixels at that zoom (GROUP BY the cell); zoomed in, they come one by one.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, case, cast, func, literal, select
from sqlalchemy.orm import Session

from server.errors import UnprocessableError
from server.models import Building, Grid, Household, Role, User, Visit, user_grids
from server.services.access import Access
from server.services.households import status_clause, tag_clause
from server.services.scopes import (
    building_scope,
    grid_scope,
    household_scope,
    visit_scope,
    worker_scope,
)
from server.services.visits import visit_query

__all__ = ["BBox", "cell_degrees", "household_view", "buildings_in_view", "visits_in_view",
           "worker_day", "map_workers", "day_bounds", "default_period", "grid_extent"]

BBox = tuple[float, float, float, float]  # south, west, north, east


def cell_degrees(zoom: int, cell_px: int) -> float:
    """The edge in degrees of a cluster cell that spans ``cell_px`` pixels at ``zoom``."""
    return 360.0 / (256 * 2 ** zoom) * cell_px


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


def _cell(session: Session, column: Any, offset: float, cell: float) -> Any:
    """SQL: the index of the cell ``column`` falls in (shifted positive, so truncation = floor)."""
    value = (column + offset) / cell
    if session.get_bind().dialect.name == "postgresql":
        return func.floor(value)
    return cast(value, Integer)  # SQLite truncates; the shift keeps values positive


def _in_view(access: Access, bbox: BBox, grid_code: str | None) -> list[Any]:
    """SQL: the households in scope, in ``bbox`` (and in the grid ``grid_code``)."""
    south, west, north, east = bbox
    clauses = [household_scope(access),
               Household.lat.between(south, north), Household.lon.between(west, east)]
    if grid_code:
        clauses.append(Household.grid_id == select(Grid.id).where(
            Grid.code == grid_code).scalar_subquery())
    return clauses


def _visited_subquery(access: Access, start: datetime, end: datetime, now: datetime) -> Any:
    """The households met at least once in ``[start, end)``, as (household_id) rows.

    A period that runs to now needs no visit rows: a household was met in it exactly when
    its last meeting (kept on the household) falls in it. Older periods ask the visits.
    """
    if end >= now:
        return (select(Household.id.label("household_id"))
                .where(Household.last_met_at >= start, Household.last_met_at < end)
                .subquery("visited"))
    return (select(Visit.household_id.label("household_id"))
            .where(visit_scope(access), Visit.outcome == "met",
                   Visit.visited_at >= start, Visit.visited_at < end)
            .group_by(Visit.household_id).subquery("visited"))


def _count_columns(session: Session, now: datetime, visited: Any) -> list[Any]:
    def count_if(clause: Any) -> Any:
        return func.coalesce(func.sum(case((clause, 1), else_=0)), 0)

    return [func.count(Household.id).label("n"),
            count_if(status_clause(["ok"], now)).label("ok"),
            count_if(status_clause(["due"], now)).label("due"),
            count_if(status_clause(["overdue"], now)).label("overdue"),
            count_if(tag_clause(session, "yellow_ribbon")).label("ribbon"),
            count_if(visited.c.household_id.is_not(None)).label("visited")]


_COUNT_KEYS = ("ok", "due", "overdue", "ribbon", "visited")


def _clusters(session: Session, access: Access, bbox: BBox, grid_code: str | None,
              cell: float, now: datetime, visited: Any) -> list[dict[str, Any]]:
    gx = _cell(session, Household.lat, 90.0, cell).label("gx")
    gy = _cell(session, Household.lon, 180.0, cell).label("gy")
    query = (select(gx, gy, func.avg(Household.lat).label("lat"),
                    func.avg(Household.lon).label("lon"),
                    *_count_columns(session, now, visited))
             .select_from(Household)
             .outerjoin(visited, visited.c.household_id == Household.id)
             .where(*_in_view(access, bbox, grid_code)).group_by(gx, gy))
    return [{"lat": float(r.lat), "lon": float(r.lon), "count": int(r.n),
             **{k: int(getattr(r, k)) for k in _COUNT_KEYS}}
            for r in session.execute(query)]


def _points(session: Session, access: Access, bbox: BBox, grid_code: str | None,
            now: datetime, visited: Any, limit: int) -> list[dict[str, Any]]:
    status = case((status_clause(["moved_out"], now), literal("moved_out")),
                  (status_clause(["overdue"], now), literal("overdue")),
                  (status_clause(["due"], now), literal("due")), else_=literal("ok"))
    query = (select(Household.id, Household.lat, Household.lon, Household.grid_id,
                    Household.unit, Household.door, Building.code.label("building"),
                    status.label("status"),
                    tag_clause(session, "yellow_ribbon").label("ribbon"),
                    visited.c.household_id.is_not(None).label("visited"))
             .select_from(Household)
             .outerjoin(Building, Building.id == Household.building_id)
             .outerjoin(visited, visited.c.household_id == Household.id)
             .where(*_in_view(access, bbox, grid_code)).order_by(Household.id).limit(limit))
    return [{"id": r.id, "lat": r.lat, "lon": r.lon, "grid_id": r.grid_id,
             "status": r.status, "ribbon": bool(r.ribbon), "visited": bool(r.visited),
             "label": " · ".join(p for p in (r.building, r.unit, r.door) if p)}
            for r in session.execute(query)]


def household_view(session: Session, access: Access, *, bbox: BBox, zoom: int,
                   start: datetime, end: datetime, now: datetime, cell_px: int,
                   points_min_zoom: int, max_points: int,
                   grid_code: str | None = None) -> dict[str, Any]:
    """Households in ``bbox``: clusters at low zoom, points at high zoom or when few.

    Counts (by status, open yellow ribbons, met in ``[start, end)``) cover the whole box.
    No names or numbers: a point carries its building, unit and door only.
    """
    access.require("households.read")
    visited = _visited_subquery(access, start, end, now)
    cell = cell_degrees(zoom, cell_px)
    clusters = _clusters(session, access, bbox, grid_code, cell, now, visited)
    counts = {"total": sum(c["count"] for c in clusters),
              **{k: sum(c[k] for c in clusters) for k in _COUNT_KEYS}}
    answer: dict[str, Any] = {"zoom": zoom, "counts": counts, "truncated": False}
    if zoom >= points_min_zoom or counts["total"] <= max_points:
        points = _points(session, access, bbox, grid_code, now, visited, max_points)
        answer.update(mode="points", cell_deg=None, clusters=[], points=points,
                      truncated=counts["total"] > len(points))
    else:
        answer.update(mode="clusters", cell_deg=cell, clusters=clusters, points=[])
    return answer


def buildings_in_view(session: Session, access: Access, bbox: BBox) -> list[dict[str, Any]]:
    """Buildings in ``bbox`` (in the reader's geography) with their household counts."""
    south, west, north, east = bbox
    counts = (select(Household.building_id, func.count(Household.id).label("n"))
              .where(Household.building_id.is_not(None)).group_by(Household.building_id)
              .subquery("counts"))
    query = (select(Building, func.coalesce(counts.c.n, 0))
             .outerjoin(counts, counts.c.building_id == Building.id)
             .where(building_scope(access),
                    Building.lat.between(south, north), Building.lon.between(west, east))
             .order_by(Building.code).limit(5000))
    return [{"id": b.id, "code": b.code, "name": b.name, "lat": b.lat, "lon": b.lon,
             "grid_id": b.grid_id, "households": int(n)} for b, n in session.execute(query)]


def _visit_rows(session: Session, query: Any) -> list[dict[str, Any]]:
    rows = session.execute(query.add_columns(User.display_name)
                           .join(User, User.id == Visit.worker_id))
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
        south, west, north, east = bbox
        query = query.where(Visit.lat.between(south, north), Visit.lon.between(west, east))
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
