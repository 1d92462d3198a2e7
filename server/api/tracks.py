"""Patrol tracks (巡查轨迹): record one from the phone, list and read them in scope."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import selectinload

from schemas.tracks import (
    MapTrackArgsSchema,
    PatrolArgsSchema,
    PatrolDaysSchema,
    TrackCreateSchema,
    TrackDaySchema,
    TrackListArgsSchema,
    TrackPageSchema,
    TrackSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.extensions import db
from server.models import Track
from server.models.types import utcnow
from server.services import tracks as service
from server.services.coverage import coverage_window, to_instant
from server.services.paging import paginate

__all__ = ["bp"]

bp = Blueprint("tracks", __name__, url_prefix="/api/v1",
               description="Patrol tracks: where a worker walked on patrol, how far, how long")


@bp.route("/tracks", methods=["POST"])
@auth_required("tracks.create")
@bp.arguments(TrackCreateSchema)
@bp.response(201, TrackSchema)
@bp.alt_response(200, schema=TrackSchema, description="A replay: the first track")
@bp.alt_response(409, response="CONFLICT", description="Another body under this client_uuid")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_track(body: dict[str, Any]) -> Any:
    """Record a patrol track (or one segment of a patrol) from the phone.

    Points are [lat, lon, accuracy_m, recorded_at] (or objects), in time order within
    started_at..ended_at, at most 5,000; the server stores WGS-84 and measures the length
    along them, leaving out points whose accuracy is worse than 100 m. The track belongs to
    my grids and community. Replays are safe.
    """
    track, created = service.create_track(db.session, current_access(), body)
    return track if created else (track, 200)


@bp.route("/tracks")
@auth_required("tracks.read")
@bp.etag
@bp.arguments(TrackListArgsSchema, location="query")
@bp.response(200, TrackPageSchema)
def list_tracks(args: dict[str, Any]) -> Any:
    """Tracks in my scope, newest first, without their points.

    Filters: worker_id, from/to on started_at (dates are Beijing days; to is excluded).
    """
    zone = current_app.config["TIMEZONE"]
    query = service.track_query(current_access(), args, to_instant(args["from_"], zone),
                                to_instant(args["to"], zone)).options(
        selectinload(Track.grids), selectinload(Track.worker))
    items, cursor = paginate(db.session, query, Track.id, limit=args["limit"],
                             cursor=args["cursor"])
    return {"items": items, "next_cursor": cursor}


@bp.route("/tracks/<int:track_id>")
@auth_required("tracks.read")
@bp.etag
@bp.response(200, TrackSchema)
@bp.alt_response(404, response="NOT_FOUND")
def get_track(track_id: int) -> Any:
    """One track with its points, if it is in my scope (404 otherwise)."""
    return service.get_track(db.session, current_access(), track_id)


@bp.route("/map/tracks")
@auth_required("tracks.read")
@bp.arguments(MapTrackArgsSchema, location="query")
@bp.response(200, TrackDaySchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def map_tracks(args: dict[str, Any]) -> Any:
    """A worker's day track (巡查轨迹): the tracks that started that Beijing day, in order,
    with the day's patrol length and time. A grid worker may leave `worker` out."""
    return service.worker_day_tracks(db.session, current_access(), worker_id=args["worker"],
                                     day=args["day"], zone=current_app.config["TIMEZONE"])


@bp.route("/stats/patrols")
@auth_required("tracks.read")
@bp.arguments(PatrolArgsSchema, location="query")
@bp.response(200, PatrolDaysSchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def patrol_stats(args: dict[str, Any]) -> Any:
    """Patrol length and time per worker per day in my scope, newest day first.

    from/to are Beijing days or times (to excluded; by default the 30 days up to now); a
    track counts on the day it started; time on patrol joins overlapping tracks.
    """
    zone = current_app.config["TIMEZONE"]
    start, end = coverage_window(args["from_"], args["to"], zone, utcnow())
    items = service.patrol_days(db.session, current_access(), start=start, end=end, zone=zone,
                                worker_id=args["worker_id"])
    return {"start": start, "end": end, "items": items}
