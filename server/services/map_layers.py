"""The map's GeoJSON layers: grid polygons with their coverage, and cases with their state.

Both reuse the other services' queries (coverage per grid, the reports in scope, the
overdue rule), so the map shows the same figures as the dashboard and the API lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.reports import FINAL_STATUSES
from server.models import Category, Department, Grid, Report
from server.services import coverage as coverage_service
from server.services.access import Access
from server.services.escalation import is_overdue, overdue_clause
from server.services.reports import report_query
from server.services.scopes import grids_in_scope

__all__ = ["grid_features", "case_features", "MAX_CASES"]

MAX_CASES = 3000


def _feature(grid: Grid, figures: dict[str, Any] | None) -> dict[str, Any]:
    props: dict[str, Any] = {"id": grid.id, "code": grid.code, "name": grid.name,
                             "households": None, "visited": None, "coverage": None,
                             "coverage_pct": None, "visits": None, "off_site_visits": None,
                             "overdue_priority": None}
    if figures is not None:
        pct = figures["coverage_pct"]
        props.update(households=figures["households"], visited=figures["households_visited"],
                     coverage_pct=pct, coverage=None if pct is None else round(pct / 100, 4),
                     visits=figures["visits"], off_site_visits=figures["off_site_visits"],
                     overdue_priority=figures["overdue_priority"])
    return {"type": "Feature", "id": grid.id, "geometry": grid.boundary, "properties": props}


def grid_features(session: Session, access: Access, start: datetime, end: datetime,
                  now: datetime, bbox: tuple[float, float, float, float] | None = None,
                  ) -> dict[str, Any]:
    """The reader's grids as GeoJSON, with coverage for ``[start, end)`` when they may see it.

    With ``bbox`` (the map's view), only the grids whose extent overlaps it: a city admin's
    view costs the grids it shows, not the city's 1,200.
    """
    grids = grids_in_scope(session, access, None, None, bbox)
    figures: dict[int, dict[str, Any]] = {}
    if grids and access.has("stats.coverage"):
        answer = coverage_service.coverage(session, access, community=None, grid=None,
                                           start=start, end=end, now=now, workers=False,
                                           bbox=bbox)
        figures = {row["grid_id"]: row for row in answer["grids"]}
    return {"type": "FeatureCollection",
            "features": [_feature(g, figures.get(g.id)) for g in grids]}


def case_features(session: Session, access: Access, *, bbox: Any, open_only: bool,
                  overdue_only: bool, now: datetime) -> dict[str, Any]:
    """Cases in scope (and in ``bbox``) as GeoJSON points, newest first, overdue marked."""
    query = report_query(access, {"bbox": bbox})
    if open_only:
        query = query.where(Report.status.not_in(FINAL_STATUSES))
    if overdue_only:
        query = query.where(overdue_clause(now))
    reports = list(session.scalars(query.order_by(Report.id.desc()).limit(MAX_CASES)))
    categories = {c.code: c for c in session.scalars(select(Category).where(
        Category.code.in_({r.category_code for r in reports})))} if reports else {}
    departments = dict(session.execute(select(Department.id, Department.name).where(
        Department.id.in_({r.department_id for r in reports if r.department_id})))
        .all()) if reports else {}
    features = []
    for r in reports:
        category = categories.get(r.category_code)
        features.append({"type": "Feature", "id": r.id,
                         "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                         "properties": {
                             "id": r.id, "status": r.status, "category": r.category_code,
                             "category_zh": category.name_zh if category else r.category_code,
                             "category_en": category.name_en if category else r.category_code,
                             "department": departments.get(r.department_id),
                             "deadline_at": r.deadline_at.isoformat() if r.deadline_at
                             else None,
                             "created_at": r.created_at.isoformat(),
                             "overdue": is_overdue(r, now)}})
    return {"type": "FeatureCollection", "features": features}
