"""The worker's agenda: which households in my grids to visit next, and why.

An open yellow ribbon (a family asking for help) leads, overdue or not; then households
that are overdue come before those only due; then the most vulnerable (the shortest visit
interval); then the most days overdue; then the nearest to where the worker stands. All
of it is one indexed SQL query (``ix_household_grid_due``: grid, due_from_at) with a
LIMIT; exact geodesic distances are computed only for the rows returned.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, Select, case, cast, func, literal, select
from sqlalchemy.orm import Session, selectinload

from server.geo import CRS, distance_m, to_wgs84
from server.models import Household
from server.models.types import UTCDateTime
from server.services.access import Access
from server.services.households import tag_clause
from server.services.privacy import household_summary
from server.services.scopes import household_scope

__all__ = ["agenda", "agenda_query", "reasons_for", "whole_days"]


def whole_days(later: datetime, earlier: datetime | None) -> int | None:
    """Whole days from ``earlier`` to ``later`` (rounded down; negative if earlier is later)."""
    if earlier is None:
        return None
    return math.floor((later - earlier).total_seconds() / 86400)


def _days_late(session: Session, now: datetime) -> Any:
    """SQL: whole days since the household became overdue (for ordering only)."""
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", literal(now, UTCDateTime) - Household.next_due_at)
        return func.floor(seconds / 86400)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return cast(func.julianday(stamp) - func.julianday(Household.next_due_at), Integer)


def agenda_query(session: Session, access: Access, now: datetime,
                 here: tuple[float, float] | None) -> Select[Any]:
    """The ordered query of households due or overdue in the user's geography (no LIMIT)."""
    ribbon_first = case((tag_clause(session, "yellow_ribbon"), 0), else_=1)
    overdue_first = case((Household.next_due_at <= now, 0), else_=1)
    order: list[Any] = [ribbon_first, overdue_first, Household.visit_interval_days,
                        _days_late(session, now).desc()]
    if here is not None:
        # Equirectangular metres² ranks neighbours exactly enough inside a community.
        k = math.cos(math.radians(here[0]))
        dlat, dlon = Household.lat - here[0], (Household.lon - here[1]) * k
        order.append(dlat * dlat + dlon * dlon)
    order.append(Household.id)
    return (select(Household)
            .where(household_scope(access),
                   Household.due_from_at <= now, Household.moved_out_at.is_(None))
            .order_by(*order))


def reasons_for(household: Household, now: datetime) -> list[str]:
    """Why a household is on the agenda, as codes the app translates."""
    reasons = []
    if household.has_tag("yellow_ribbon"):
        reasons.append("yellow_ribbon_open")
    if household.follow_up_at is not None and household.follow_up_at <= now:
        reasons.append("follow_up")
    reasons.append("overdue" if household.next_due_at <= now else "due")
    if household.last_visit_at is None:
        reasons.append("never_visited")
    elif household.last_met_at is None:
        reasons.append("never_met")
    reasons += [f"tag:{t}" for t in household.tags or [] if t != "yellow_ribbon"]
    return reasons


def _counts(session: Session, access: Access, now: datetime) -> tuple[int, int]:
    overdue, due = session.execute(
        select(func.sum(case((Household.next_due_at <= now, 1), else_=0)),
               func.sum(case((Household.next_due_at > now, 1), else_=0)))
        .where(household_scope(access),
               Household.due_from_at <= now, Household.moved_out_at.is_(None))).one()
    return int(overdue or 0), int(due or 0)


def agenda(session: Session, access: Access, *, now: datetime, lat: float | None = None,
           lon: float | None = None, crs: CRS = "wgs84", limit: int = 50) -> dict[str, Any]:
    """My agenda: up to ``limit`` households with status, days and reasons."""
    here = to_wgs84(lat, lon, crs) if lat is not None and lon is not None else None
    query = agenda_query(session, access, now, here).limit(limit).options(
        selectinload(Household.building), selectinload(Household.grid))
    households = session.scalars(query).all()
    items = []
    for household in households:
        items.append({
            "household": household_summary(household, access, now),
            "status": "overdue" if household.next_due_at <= now else "due",
            "days_overdue": whole_days(now, household.next_due_at),
            "days_since_last_visit": whole_days(now, household.last_visit_at),
            "days_since_last_met": whole_days(now, household.last_met_at),
            "distance_m": round(distance_m(here, (household.lat, household.lon)), 1)
            if here else None,
            "reasons": reasons_for(household, now),
        })
    overdue, due = _counts(session, access, now)
    return {"generated_at": now, "overdue": overdue, "due": due, "items": items}
