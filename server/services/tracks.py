"""Patrol tracks (巡查轨迹): record one from a phone, replay-safe, and read them in scope.

Recording checks, in order: a replay of a known ``client_uuid`` answers the first track (a
UUID another user sent is a 409); ``ended_at`` must not be in the future beyond
``CLOCK_SKEW_MINUTES`` (422). The points are converted to WGS-84 and the track's length
measured along them on the ellipsoid (``server.geo.distance_m``), leaving out points
whose accuracy is worse than ``TRACK_ACCURACY_LIMIT_M``: a fix that poor jumps tens of
metres while the worker stands still. The track belongs to its worker and to the grids
and community they work in (``scopes.track_home``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session

from server.errors import ConflictError, NotFoundError, UnprocessableError
from server.geo import distance_m, to_wgs84
from server.models import Track, track_grids
from server.models.types import utcnow
from server.services.access import Access
from server.services.idempotency import body_digest, create_once, find_replay
from server.services.scopes import track_home, track_scope

__all__ = ["TRACK_ACCURACY_LIMIT_M", "create_track", "track_length_m", "get_track",
           "track_query"]

# Points with a worse accuracy radius are stored and drawn, but not measured.
TRACK_ACCURACY_LIMIT_M = 100.0


def track_length_m(points: Sequence[Sequence[Any]]) -> float:
    """The geodesic length in metres along ``[lat, lon, accuracy_m, ...]`` WGS-84 points,
    leaving out those whose accuracy is worse than ``TRACK_ACCURACY_LIMIT_M``."""
    total = 0.0
    previous: tuple[float, float] | None = None
    for point in points:
        accuracy = point[2]
        if accuracy is not None and accuracy > TRACK_ACCURACY_LIMIT_M:
            continue
        here = (point[0], point[1])
        if previous is not None and here != previous:
            total += distance_m(previous, here)
        previous = here
    return total


def _config(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return config if config is not None else current_app.config


def _replay(session: Session, access: Access, client_uuid: str, digest: str) -> Track | None:
    existing = find_replay(session, Track, client_uuid, digest)
    if existing is not None and existing.worker_id != access.user.id:
        # A client UUID belongs to one device's record; another user never gets that track.
        raise ConflictError(f"client_uuid {client_uuid} belongs to another user's track.",
                            client_uuid=client_uuid)
    return existing


def _wgs84_points(body: Mapping[str, Any]) -> list[list[Any]]:
    """The stored form: ``[lat, lon, accuracy_m, seconds after started_at]`` in WGS-84."""
    crs: Any = body.get("crs") or "wgs84"  # one of CRS_CHOICES: the schema checked it
    start = body["started_at"]
    stored = []
    for point in body["points"]:
        lat, lon = to_wgs84(point["lat"], point["lon"], crs)
        offset = round((point["recorded_at"] - start).total_seconds(), 3)
        stored.append([round(lat, 7), round(lon, 7), point["accuracy_m"], offset])
    return stored


def create_track(session: Session, access: Access, body: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None) -> tuple[Track, bool]:
    """Record a track from a loaded ``TrackCreateSchema`` body; returns (track, created).

    Idempotent on ``client_uuid``: the same body again answers the first track (created
    False); another body is a 409. The caller commits.
    """
    cfg = _config(config)
    digest = body_digest(body)
    existing = _replay(session, access, body["client_uuid"], digest)
    if existing is not None:
        return existing, False
    now = utcnow()
    if body["ended_at"] > now + timedelta(minutes=float(cfg["CLOCK_SKEW_MINUTES"])):
        raise UnprocessableError("ended_at is in the future; check the phone's clock.",
                                 errors={"ended_at": ["Must not be in the future."]})
    points = _wgs84_points(body)
    grid_ids, community_id = track_home(session, access)

    def build() -> Track:
        track = Track(client_uuid=body["client_uuid"], body_sha256=digest,
                      worker_id=access.user.id, community_id=community_id,
                      started_at=body["started_at"], ended_at=body["ended_at"],
                      received_at=now, input_crs=body.get("crs") or "wgs84",
                      point_count=len(points), length_m=round(track_length_m(points), 1),
                      points=points)
        session.add(track)
        session.flush()
        if grid_ids:
            session.execute(insert(track_grids), [{"track_id": track.id, "grid_id": g}
                                                  for g in grid_ids])
        session.expire(track, ["grids"])
        return track

    return create_once(session, Track, body["client_uuid"], digest, build)


def get_track(session: Session, access: Access, track_id: int) -> Track:
    """The track if this user may read it; 404 otherwise."""
    track = session.scalar(select(Track).where(Track.id == track_id, track_scope(access)))
    if track is None:
        raise NotFoundError(f"No track {track_id} in your scope.")
    return track


def track_query(access: Access, args: Mapping[str, Any], start: datetime | None,
                end: datetime | None) -> Select[Any]:
    """The tracks in scope matching the list filters; ``[start, end)`` on ``started_at``."""
    query = select(Track).where(track_scope(access))
    if args.get("worker_id") is not None:
        query = query.where(Track.worker_id == args["worker_id"])
    if start is not None:
        query = query.where(Track.started_at >= start)
    if end is not None:
        query = query.where(Track.started_at < end)
    return query
