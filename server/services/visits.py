"""House visits: record one with its proof of presence, read them, turn needs into reports.

Recording checks, in order: a replay of a known ``client_uuid`` answers the first visit; the
household and photos must have arrived (409 dependency_missing, so the sync client pushes
them first); the household must be in the visitor's grids (403; building heads: their
buildings); ``visited_at`` must not be in the future beyond ``CLOCK_SKEW_MINUTES`` (422).
Then the server measures the geodesic distance from where the worker stood to the household:

- ``off_site``: farther than ``OFF_SITE_M`` plus the reported GPS accuracy (capped at
  ``OFF_SITE_ACCURACY_CAP_M``), so a poor fix does not accuse an honest worker, and a
  claimed 5 km accuracy does not excuse a visit from across town;
- ``late_entry``: received more than ``LATE_VISIT_HOURS`` after it happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, insert, select
from sqlalchemy.orm import Session

from server.errors import (
    DependencyMissingError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from server.geo import distance_m, to_wgs84
from server.models import Category, Grid, Household, Photo, Visit, VisitNeed, visit_photos
from server.models.types import utcnow
from server.services.access import Access
from server.services.households import close_ribbons
from server.services.idempotency import body_digest, create_once, find_replay
from server.services.visit_policy import apply_schedule

__all__ = ["create_visit", "visit_scope_clause", "get_visit", "visit_query",
           "need_report", "visit_need_for_report", "presence_flags", "NEED_REPORT_NAMESPACE",
           "seen_through_visits"]

# A need's report gets a client_uuid derived from the visit's, so asking twice (or a
# replayed visit) finds the same report instead of making a second one.
NEED_REPORT_NAMESPACE = uuid.UUID("6f1c7d2e-58a4-4b8e-9c61-2b7f0e4a9d13")


def _config(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return config if config is not None else current_app.config


def presence_flags(distance: float, accuracy_m: float | None, visited_at: datetime,
                   received_at: datetime, cfg: Mapping[str, Any]) -> list[str]:
    """The proof-of-presence flags of a visit (see the module docstring)."""
    flags = []
    allowance = float(cfg["OFF_SITE_M"]) + min(accuracy_m or 0.0,
                                               float(cfg["OFF_SITE_ACCURACY_CAP_M"]))
    if distance > allowance:
        flags.append("off_site")
    if received_at - visited_at > timedelta(hours=float(cfg["LATE_VISIT_HOURS"])):
        flags.append("late_entry")
    return flags


def _resolve(session: Session, body: Mapping[str, Any]) -> tuple[Household | None,
                                                                 list[dict[str, str]]]:
    """The household (locked for the update of its schedule) and the missing parents."""
    missing: list[dict[str, str]] = []
    query = select(Household).with_for_update()
    if body.get("household_id") is not None:
        household = session.scalar(query.where(Household.id == body["household_id"]))
        if household is None:
            raise UnprocessableError("No such household.",
                                     errors={"household_id": ["Unknown household."]})
    else:
        household = session.scalar(query.where(
            Household.client_uuid == body["household_client_uuid"]))
        if household is None:
            missing.append({"kind": "household", "client_uuid": body["household_client_uuid"]})
    photo_ids = list(body.get("photo_ids") or [])
    if photo_ids:
        found = set(session.scalars(select(Photo.id).where(Photo.id.in_(photo_ids))))
        missing += [{"kind": "photo", "client_uuid": p} for p in photo_ids if p not in found]
    return household, missing


def _check_needs(session: Session, needs: Sequence[Mapping[str, Any]]) -> None:
    wanted = {n["category"] for n in needs if n.get("create_report")}
    if not wanted:
        return
    known = set(session.scalars(select(Category.code).where(Category.code.in_(wanted),
                                                            Category.active.is_(True))))
    bad = sorted(wanted - known)
    if bad:
        raise UnprocessableError("Only a need with a report category can become a report.",
                                 errors={"needs": [f"{c} is not an active report category."
                                                   for c in bad]})


def create_visit(session: Session, access: Access, body: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None) -> tuple[Visit, bool]:
    """Record a visit from a loaded ``VisitCreateSchema`` body; returns (visit, created).

    Idempotent on ``client_uuid``. Needs marked ``create_report`` become reports, also on a
    replay if an earlier attempt stopped before making them. Commits.
    """
    cfg = _config(config)
    digest = body_digest(body)
    visit = find_replay(session, Visit, body["client_uuid"], digest)
    created = False
    if visit is None:
        visit, created = _record(session, access, body, digest, cfg)
    for need in visit.needs:
        wanted = body["needs"][need.position].get("create_report")
        if wanted and need.report_id is None:
            need_report(session, access, visit, need.position, config=cfg)
    return visit, created


def _record(session: Session, access: Access, body: Mapping[str, Any], digest: str,
            cfg: Mapping[str, Any]) -> tuple[Visit, bool]:
    household, missing = _resolve(session, body)
    if missing:
        kinds = " and ".join(sorted({m["kind"] for m in missing}))
        raise DependencyMissingError(f"This visit names a {kinds} the server has not received "
                                     "yet; send it first, then the visit again.",
                                     missing=missing)
    assert household is not None
    access.require_grid(household.grid_id, "household")
    if not access.sees_building(household.building_id):
        raise ForbiddenError("This household is not in your buildings.")
    now = utcnow()
    if body["visited_at"] > now + timedelta(minutes=float(cfg["CLOCK_SKEW_MINUTES"])):
        raise UnprocessableError("visited_at is in the future; check the phone's clock.",
                                 errors={"visited_at": ["Must not be in the future."]})
    _check_needs(session, body["needs"])
    point = body["location"]
    lat, lon = to_wgs84(point["lat"], point["lon"], point.get("crs") or "wgs84")
    metres = distance_m((lat, lon), (household.lat, household.lon))
    flags = presence_flags(metres, point.get("accuracy_m"), body["visited_at"], now, cfg)

    def build() -> Visit:
        visit = Visit(
            client_uuid=body["client_uuid"], body_sha256=digest, household_id=household.id,
            worker_id=access.user.id, grid_id=household.grid_id,
            visited_at=body["visited_at"], received_at=now, lat=lat, lon=lon,
            accuracy_m=point.get("accuracy_m"), input_crs=point.get("crs") or "wgs84",
            distance_m=round(metres, 1), outcome=body["outcome"], notes=body["notes"],
            flags=flags, off_site="off_site" in flags, follow_up_on=body["follow_up_on"],
            needs=[VisitNeed(position=i, category=n["category"], text=n["text"])
                   for i, n in enumerate(body["needs"])])
        session.add(visit)
        session.flush()
        if body["photo_ids"]:
            session.execute(insert(visit_photos), [
                {"visit_id": visit.id, "photo_id": pid, "position": i}
                for i, pid in enumerate(body["photo_ids"])])
            session.expire(visit, ["photos"])
        return visit

    visit, created = create_once(session, Visit, body["client_uuid"], digest, build)
    if created:
        _record_on_household(session, household, visit, now)
    session.commit()
    return visit, created


def _record_on_household(session: Session, household: Household, visit: Visit,
                         now: datetime) -> None:
    """Keep the household's last-visit columns and schedule current (late visits too)."""
    if household.last_visit_at is None or visit.visited_at > household.last_visit_at:
        household.last_visit_at = visit.visited_at
    if visit.outcome != "met":
        apply_schedule(session, household)
        return
    if household.last_met_at is None or visit.visited_at > household.last_met_at:
        household.last_met_at = visit.visited_at
    # close_ribbons has just read the open requests: the schedule needs no second look.
    still_open_since = close_ribbons(session, household, visit.id, visit.visited_at, now)
    session.flush()
    apply_schedule(session, household, ribbon_raised_at=still_open_since)


def visit_scope_clause(access: Access) -> ColumnElement[bool]:
    """SQL: the visits this user may read (their grids; building heads, their buildings)."""
    clause = access.grid_clause(Visit.grid_id)
    if access.building_ids is not None:
        clause = and_(clause, Visit.household_id.in_(select(Household.id).where(
            access.building_clause(Household.building_id))))
    return clause


def get_visit(session: Session, access: Access, visit_id: int) -> Visit:
    """The visit if this user may read it; 404 otherwise."""
    visit = session.scalar(select(Visit).where(Visit.id == visit_id, visit_scope_clause(access)))
    if visit is None:
        raise NotFoundError(f"No visit {visit_id} in your scope.")
    return visit


def visit_query(access: Access, args: Mapping[str, Any], start: datetime | None,
                end: datetime | None) -> Select[Any]:
    """The visits in scope matching the list filters; ``[start, end)`` on ``visited_at``."""
    query = select(Visit).where(visit_scope_clause(access))
    for key, column in (("household_id", Visit.household_id), ("worker_id", Visit.worker_id),
                        ("outcome", Visit.outcome), ("off_site", Visit.off_site)):
        if args.get(key) is not None:
            query = query.where(column == args[key])
    if args.get("grid"):
        query = query.where(Visit.grid_id == select(Grid.id).where(
            Grid.code == args["grid"]).scalar_subquery())
    if args.get("report_id") is not None:
        query = query.where(Visit.id.in_(select(VisitNeed.visit_id).where(
            VisitNeed.report_id == args["report_id"])))
    if start is not None:
        query = query.where(Visit.visited_at >= start)
    if end is not None:
        query = query.where(Visit.visited_at < end)
    return query


def need_report(session: Session, access: Access, visit: Visit, position: int, *,
                category: str | None = None, description: str | None = None,
                config: Mapping[str, Any] | None = None) -> tuple[VisitNeed, bool]:
    """Turn need ``position`` of ``visit`` into a report (once); returns (need, created)."""
    from server.services.reports import create_report

    need = next((n for n in visit.needs if n.position == position), None)
    if need is None:
        raise NotFoundError(f"Visit {visit.id} has no need {position}.")
    if need.report_id is not None:
        return need, False
    household = visit.household
    text = description if description is not None else need.text
    body = {
        "client_uuid": str(uuid.uuid5(NEED_REPORT_NAMESPACE, f"{visit.client_uuid}/{position}")),
        "category": category or need.category,
        "description": f"{text}\n(入户走访 #{visit.id},户号 {household.code})".strip(),
        "location": {"lat": household.lat, "lon": household.lon, "accuracy_m": None,
                     "crs": "wgs84"},
        "captured_at": visit.visited_at,
        "photo_ids": visit.photo_ids[:9],
    }
    report, _ = create_report(session, access, body, config=_config(config))
    need.report_id = report.id
    session.commit()
    return need, True


def visit_need_for_report(session: Session, report_id: int) -> VisitNeed | None:
    """The visit need a report came from, if it came from one."""
    return session.scalar(select(VisitNeed).where(VisitNeed.report_id == report_id))


def seen_through_visits(session: Session, access: Access, photo: Photo) -> bool:
    """Whether the user may see a visit that uses ``photo``."""
    query = (select(Visit.id).join(visit_photos, visit_photos.c.visit_id == Visit.id)
             .where(visit_photos.c.photo_id == photo.id, visit_scope_clause(access)).limit(1))
    return session.scalar(query) is not None

