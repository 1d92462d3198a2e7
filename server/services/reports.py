"""Reports: create one from a phone's capture (flags, duplicate link, replay safety) and read them.

Creation checks, in order: a replay of a known ``client_uuid`` answers the first report; the
category must be active and the capture time not in the future (422); every photo must have
arrived (409 dependency_missing) and be the reporter's or visible to them (422). Then the
point is converted to WGS-84, its grid found, and the flags computed:

- ``outside_grid``: no grid contains the point (accepted all the same);
- ``location_mismatch``: a photo's EXIF GPS lies beyond ``LOCATION_MISMATCH_M`` of the point;
- ``stale_photo``: a photo was taken more than ``STALE_PHOTO_HOURS`` before ``captured_at``;
- ``possible_duplicate``: an open report of the same category lies within
  ``DUPLICATE_RADIUS_M`` and ``DUPLICATE_WINDOW_HOURS`` (linked as ``possible_duplicate_of``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session

from schemas.reports import OPEN_STATUSES, REPORT_FLAGS
from server.errors import (
    ConflictError,
    DependencyMissingError,
    NotFoundError,
    UnprocessableError,
)
from server.geo import bbox_around, distance_m, to_wgs84
from server.models import Grid, Photo, Report, User, report_photos
from server.models.types import utcnow
from server.services.access import Access
from server.services.case_queues import mine_clause
from server.services.categories import active_category
from server.services.grids import locate_grid
from server.services.idempotency import body_digest, create_once, find_replay
from server.services.paging import paginate
from server.services.scopes import report_scope, usable_photos, visible_report_ids

__all__ = ["for_reader", "create_report", "get_report", "report_query", "list_reports"]


def _config(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return config if config is not None else current_app.config


def for_reader(session: Session, access: Access, reports: Sequence[Report]) -> list[Report]:
    """``reports``, each marked ``duplicate_hidden`` when its possible duplicate is a report
    the reader may not read (the dump then leaves the link out)."""
    linked = {r.possible_duplicate_of_id for r in reports if r.possible_duplicate_of_id}
    seen = visible_report_ids(session, access, linked) if linked else set()
    for report in reports:
        report.duplicate_hidden = (  # type: ignore[attr-defined]
            report.possible_duplicate_of_id is not None
            and report.possible_duplicate_of_id not in seen)
    return list(reports)


def get_report(session: Session, access: Access, report_id: int) -> Report:
    """The report ``report_id`` if this user may read it; 404 otherwise."""
    report = session.scalar(select(Report).where(Report.id == report_id,
                                                 report_scope(access)))
    if report is None:
        raise NotFoundError(f"No report {report_id} in your scope.")
    return for_reader(session, access, [report])[0]


def report_query(access: Access, args: Mapping[str, Any]) -> Select[Any]:
    """The reports in scope matching the list filters (no order, no limit)."""
    query = select(Report).where(report_scope(access))
    if args.get("grid"):
        query = query.where(Report.grid_id == select(Grid.id).where(
            Grid.code == args["grid"]).scalar_subquery())
    if args.get("category"):
        query = query.where(Report.category_code.in_(args["category"]))
    if args.get("status"):
        query = query.where(Report.status.in_(args["status"]))
    if args.get("bbox"):
        south, west, north, east = args["bbox"]
        query = query.where(Report.lat.between(south, north), Report.lon.between(west, east))
    if args.get("since"):
        query = query.where(Report.created_at >= args["since"])
    if args.get("until"):
        query = query.where(Report.created_at < args["until"])
    if args.get("queue") == "mine":
        query = query.where(mine_clause(access))  # escalates overdue cases first
    return query


def list_reports(session: Session, access: Access,
                 args: Mapping[str, Any]) -> tuple[list[Report], str | None]:
    """One page of the reports in scope, newest first, and the next page's cursor."""
    items, cursor = paginate(session, report_query(access, args), Report.id,
                             limit=args["limit"], cursor=args.get("cursor"))
    return for_reader(session, access, items), cursor


def _home_community(user: User) -> int | None:
    """The community a report outside every grid belongs to: the reporter's."""
    if user.community_id is not None:
        return user.community_id
    for grid in user.grids:
        return grid.community_id
    for building in user.buildings:
        return building.community_id
    return None


def _photos_for(session: Session, access: Access, photo_ids: Sequence[str]) -> list[Photo]:
    found = usable_photos(session, access, photo_ids)
    missing = [pid for pid in photo_ids if pid not in found]
    if missing:
        raise DependencyMissingError(
            f"{len(missing)} photo(s) of this report have not been uploaded yet. Upload them, "
            "then send the report again.",
            missing=[{"kind": "photo", "client_uuid": pid} for pid in missing])
    return [found[pid] for pid in photo_ids]


def _check_capture_time(captured_at: datetime, cfg: Mapping[str, Any]) -> None:
    if captured_at > utcnow() + timedelta(minutes=float(cfg["CLOCK_SKEW_MINUTES"])):
        raise UnprocessableError("captured_at is in the future; check the phone's clock.",
                                 errors={"captured_at": ["Must not be in the future."]})


def _photo_flags(photos: Sequence[Photo], lat: float, lon: float, captured_at: datetime,
                 cfg: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per-photo evidence for location_mismatch and stale_photo (empty lists dropped)."""
    far, stale = [], []
    limit_m = float(cfg["LOCATION_MISMATCH_M"])
    stale_after = timedelta(hours=float(cfg["STALE_PHOTO_HOURS"]))
    for photo in photos:
        if photo.exif_lat is not None and photo.exif_lon is not None:
            metres = distance_m((lat, lon), (photo.exif_lat, photo.exif_lon))
            if metres > limit_m:
                far.append({"photo_id": photo.id, "distance_m": round(metres, 1)})
        if photo.exif_taken_at is not None and captured_at - photo.exif_taken_at > stale_after:
            hours = (captured_at - photo.exif_taken_at).total_seconds() / 3600
            stale.append({"photo_id": photo.id, "hours_before": round(hours, 1)})
    found = {"location_mismatch": far, "stale_photo": stale}
    return {flag: items for flag, items in found.items() if items}


def _possible_duplicate(session: Session, category: str, lat: float, lon: float,
                        captured_at: datetime,
                        cfg: Mapping[str, Any]) -> tuple[int, float] | None:
    """The nearest open report of the same category close in space and time: (id, metres)."""
    radius = float(cfg["DUPLICATE_RADIUS_M"])
    window = timedelta(hours=float(cfg["DUPLICATE_WINDOW_HOURS"]))
    box = bbox_around(lat, lon, radius)  # an indexed range prefilter, then the exact distance
    rows = session.execute(select(Report.id, Report.lat, Report.lon).where(
        Report.category_code == category, Report.status.in_(OPEN_STATUSES),
        Report.lat.between(box.south, box.north), Report.lon.between(box.west, box.east),
        Report.captured_at.between(captured_at - window, captured_at + window),
    ).order_by(Report.id).limit(200)).all()
    best: tuple[int, float] | None = None
    for report_id, other_lat, other_lon in rows:
        metres = distance_m((lat, lon), (other_lat, other_lon))
        if metres <= radius and (best is None or metres < best[1]):
            best = (report_id, metres)
    return best


def _replay(session: Session, user: User, client_uuid: str, digest: str) -> Report | None:
    existing = find_replay(session, Report, client_uuid, digest)
    if existing is not None and existing.reporter_id != user.id:
        # A client UUID belongs to one device's record; another user never gets that report.
        raise ConflictError(f"client_uuid {client_uuid} belongs to another user's report.",
                            client_uuid=client_uuid)
    return existing


def create_report(session: Session, access: Access, body: Mapping[str, Any],
                  config: Mapping[str, Any] | None = None) -> tuple[Report, bool]:
    """Create a report from a loaded ``ReportCreateSchema`` body; returns (report, created).

    Idempotent on ``client_uuid``: the same body again answers the first report (created
    False); another body is a 409. The caller commits.
    """
    cfg = _config(config)
    user = access.user
    digest = body_digest(body)
    existing = _replay(session, user, body["client_uuid"], digest)
    if existing is not None:
        return for_reader(session, access, [existing])[0], False
    category = active_category(session, body["category"])
    _check_capture_time(body["captured_at"], cfg)
    photos = _photos_for(session, access, body["photo_ids"])
    point = body["location"]
    lat, lon = to_wgs84(point["lat"], point["lon"], point.get("crs") or "wgs84")
    grid = locate_grid(session, lat, lon)
    detail: dict[str, Any] = _photo_flags(photos, lat, lon, body["captured_at"], cfg)
    if grid is None:
        detail["outside_grid"] = {"lat": round(lat, 6), "lon": round(lon, 6)}
    duplicate = _possible_duplicate(session, category.code, lat, lon, body["captured_at"], cfg)
    if duplicate is not None:
        detail["possible_duplicate"] = {"report_id": duplicate[0],
                                        "distance_m": round(duplicate[1], 1)}
    flags = [flag for flag in REPORT_FLAGS if flag in detail]

    def build() -> Report:
        report = Report(
            client_uuid=body["client_uuid"], body_sha256=digest, reporter_id=user.id,
            community_id=grid.community_id if grid else _home_community(user),
            grid_id=grid.id if grid else None, category_code=category.code,
            description=body.get("description") or "", lat=lat, lon=lon,
            accuracy_m=point.get("accuracy_m"), input_crs=point.get("crs") or "wgs84",
            captured_at=body["captured_at"], flags=flags, flag_detail=detail or None,
            possible_duplicate_of_id=duplicate[0] if duplicate else None)
        session.add(report)
        session.flush()
        if photos:  # a report made from a visit's need may have none
            session.execute(insert(report_photos), [
                {"report_id": report.id, "photo_id": photo.id, "position": position}
                for position, photo in enumerate(photos)])
        session.expire(report, ["photos"])
        return report

    report, created = create_once(session, Report, body["client_uuid"], digest, build)
    session.flush()
    return for_reader(session, access, [report])[0], created
