"""Visit coverage per grid and per worker, counted in SQL (GROUP BY), never row by row.

Coverage (走访覆盖率) has one definition, here, used by this API, the map's grid shading and
household clusters, the dashboard and the benches (``met_in_window``): of the households
that live in a grid (not moved out), the share met at least once in ``[start, end)``.
A window that runs to now reads each household's ``last_met_at`` (kept by the visit
service), so a month's coverage reads one row per household and no visit; an older window
asks whether a meeting visit falls in it. Per window also: visits recorded in the grid, the
share flagged ``off_site``; ``overdue_priority`` counts priority households (interval below
the default) overdue now. A worker's households are those of their grids in scope; their
visits, and the households they met, are their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import Session

from server.errors import UnprocessableError
from server.models import Household, Role, User, Visit, user_grids
from server.services.access import Access
from server.services.scopes import grids_in_scope

__all__ = ["to_instant", "coverage_window", "coverage", "met_in_window"]


def to_instant(value: date | datetime | None, timezone: str) -> datetime | None:
    """A date becomes the start of that day in ``timezone``; a time stays as it is."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=ZoneInfo(timezone))


def coverage_window(start: date | datetime | None, end: date | datetime | None,
                    timezone: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` as aware times; by default the 30 days up to now."""
    end_at = to_instant(end, timezone) or now
    start_at = to_instant(start, timezone) or end_at - timedelta(days=30)
    if start_at >= end_at:
        raise UnprocessableError("The window is empty: from must be before to.",
                                 errors={"from": ["Must be before to."]})
    return start_at.astimezone(UTC), end_at.astimezone(UTC)


def _ratio(part: int, whole: int, scale: float, digits: int) -> float | None:
    return round(scale * part / whole, digits) if whole else None


def _counts(households: int, visited: int, visits: int, off_site: int,
            overdue: int) -> dict[str, Any]:
    return {"households": households, "households_visited": visited,
            "coverage_pct": _ratio(visited, households, 100.0, 1),
            "visits": visits, "off_site_visits": off_site,
            "off_site_share": _ratio(off_site, visits, 1.0, 3), "overdue_priority": overdue}


def _overdue_priority(now: datetime) -> Any:
    return func.sum(case((and_(Household.priority.is_(True), Household.next_due_at <= now), 1),
                         else_=0))


def met_in_window(start: datetime, end: datetime, now: datetime,
                  visits: Any = None) -> ColumnElement[bool]:
    """SQL, per household: met at least once in ``[start, end)`` (the coverage definition).

    ``visits``: a further clause on the meeting visits of an older window (a reader's scope).
    """
    if end >= now:
        return and_(Household.last_met_at >= start, Household.last_met_at < end)
    return exists(select(1).where(
        Visit.household_id == Household.id, Visit.outcome == "met",
        Visit.visited_at >= start, Visit.visited_at < end,
        visits if visits is not None else true()))


def _visit_columns() -> list[Any]:
    met_household = case((Visit.outcome == "met", Visit.household_id))
    return [func.count(Visit.id), func.count(met_household.distinct()),
            func.sum(case((Visit.off_site.is_(True), 1), else_=0))]


def _grid_rows(session: Session, grid_ids: list[int], start: datetime, end: datetime,
               now: datetime) -> tuple[dict[int, Any], dict[int, Any]]:
    met = func.sum(case((met_in_window(start, end, now), 1), else_=0))
    households = {row[0]: row[1:] for row in session.execute(
        select(Household.grid_id, func.count(Household.id), _overdue_priority(now), met)
        .where(Household.grid_id.in_(grid_ids), Household.moved_out_at.is_(None))
        .group_by(Household.grid_id))}
    visits = {row[0]: row[1:] for row in session.execute(
        select(Visit.grid_id, func.count(Visit.id),
               func.sum(case((Visit.off_site.is_(True), 1), else_=0)))
        .where(Visit.grid_id.in_(grid_ids), Visit.visited_at >= start, Visit.visited_at < end)
        .group_by(Visit.grid_id))}
    return households, visits


def _worker_rows(session: Session, grid_ids: list[int], start: datetime, end: datetime,
                 per_grid: dict[int, Any]) -> list[dict[str, Any]]:
    """Per worker: their grids' households (summed from ``per_grid``), their own visits."""
    in_grids = user_grids.c.grid_id.in_(grid_ids)
    households: dict[int, list[int]] = {}
    for user_id, grid_id in session.execute(
            select(user_grids.c.user_id, user_grids.c.grid_id)
            .join(User, User.id == user_grids.c.user_id)
            .where(in_grids, User.role == Role.GRID_WORKER.value)):
        total, overdue, _met = per_grid.get(grid_id, (0, 0, 0))
        sums = households.setdefault(user_id, [0, 0])
        sums[0] += int(total)
        sums[1] += int(overdue or 0)
    visits = {row[0]: row[1:] for row in session.execute(
        select(Visit.worker_id, *_visit_columns())
        .where(Visit.grid_id.in_(grid_ids), Visit.visited_at >= start, Visit.visited_at < end)
        .group_by(Visit.worker_id))}
    assigned = select(user_grids.c.user_id).where(in_grids)
    people = session.scalars(select(User).where(or_(
        and_(User.id.in_(assigned), User.role == Role.GRID_WORKER.value),
        User.id.in_(list(visits)))).order_by(User.username))
    rows = []
    for user in people:
        total, overdue = households.get(user.id, [0, 0])
        count, visited, off_site = visits.get(user.id, (0, 0, 0))
        row = _counts(int(total), int(visited), int(count), int(off_site or 0),
                      int(overdue or 0))
        rows.append({"worker_id": user.id, "username": user.username,
                     "display_name": user.display_name, "role": user.role, **row})
    return rows


def coverage(session: Session, access: Access, *, community: str | None, grid: str | None,
             start: datetime, end: datetime, now: datetime,
             workers: bool = True,
             bbox: tuple[float, float, float, float] | None = None) -> dict[str, Any]:
    """Coverage per grid, per worker (unless ``workers`` is false) and in total; with
    ``bbox``, of the grids whose extent overlaps it only (the map's view)."""
    grids = grids_in_scope(session, access, community, grid, bbox)
    grid_ids = [g.id for g in grids]
    households, visits = _grid_rows(session, grid_ids, start, end, now) if grids else ({}, {})
    rows = []
    for g in grids:
        total, overdue, visited = households.get(g.id, (0, 0, 0))
        count, off_site = visits.get(g.id, (0, 0))
        rows.append({"grid_id": g.id, "grid": g.code, "name": g.name,
                     **_counts(int(total), int(visited), int(count), int(off_site or 0),
                               int(overdue or 0))})
    return {"from_": start, "to": end, "generated_at": now, "grids": rows,
            "workers": _worker_rows(session, grid_ids, start, end, households)
            if grids and workers else [],
            "total": _sum(rows)}


def _sum(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    keys = ("households", "households_visited", "visits", "off_site_visits",
            "overdue_priority")
    totals = {k: 0 for k in keys}
    for row in rows:
        for key in keys:
            totals[key] += row[key]
    return _counts(totals["households"], totals["households_visited"], totals["visits"],
                   totals["off_site_visits"], totals["overdue_priority"])

