"""Patrol tracks (巡查轨迹): record one from a phone, replay-safe, and read them in scope.

Recording checks, in order: a replay of a known ``client_uuid`` answers the first track (a
UUID another user sent is a 409); ``ended_at`` must not be in the future beyond
``CLOCK_SKEW_MINUTES`` (422). The points are converted to WGS-84 and the track's length
measured along them on the ellipsoid (``server.geo.path_length_m``), leaving out points
whose accuracy is worse than ``TRACK_ACCURACY_LIMIT_M``: a fix that poor jumps tens of
metres while the worker stands still. A segment that continues another of the worker's
(it starts the instant that one ended) also counts the leg between them
(``_join_neighbours``). The track belongs to its worker and to the grids
and community they work in (``scopes.track_home``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session, selectinload, undefer

from server.errors import ConflictError, NotFoundError, UnprocessableError
from server.geo import path_length_m, to_wgs84
from server.models import Role, Track, User, track_grids
from server.models.types import utcnow
from server.services.access import Access
from server.services.idempotency import body_digest, create_once, find_replay
from server.services.scopes import track_home, track_scope

__all__ = ["TRACK_ACCURACY_LIMIT_M", "MAX_PATROL_DAYS", "create_track", "track_length_m",
           "get_track", "track_query", "time_on_patrol_s", "worker_day_tracks", "patrol_days"]

# The longest period the patrol figures cover in one answer.
MAX_PATROL_DAYS = 366

# Points with a worse accuracy radius are stored and drawn, but not measured.
TRACK_ACCURACY_LIMIT_M = 100.0


def track_length_m(points: Sequence[Sequence[Any]]) -> float:
    """The length in metres along ``[lat, lon, accuracy_m, ...]`` WGS-84 points, on the
    ellipsoid (``path_length_m``), leaving out those whose accuracy is worse than
    ``TRACK_ACCURACY_LIMIT_M``."""
    return path_length_m(_measurable(points))


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
                      # UTC at once, so the first answer reads as every later one
                      started_at=body["started_at"].astimezone(UTC),
                      ended_at=body["ended_at"].astimezone(UTC),
                      received_at=now, input_crs=body.get("crs") or "wgs84",
                      point_count=len(points), length_m=round(track_length_m(points), 1),
                      points=points)
        session.add(track)
        session.flush()
        _join_neighbours(session, track)
        if grid_ids:
            session.execute(insert(track_grids), [{"track_id": track.id, "grid_id": g}
                                                  for g in grid_ids])
        session.expire(track, ["grids"])
        return track

    return create_once(session, Track, body["client_uuid"], digest, build)


def _measurable(points: Sequence[Sequence[Any]]) -> list[tuple[float, float]]:
    return [(p[0], p[1]) for p in points if p[2] is None or p[2] <= TRACK_ACCURACY_LIMIT_M]


def _join_neighbours(session: Session, track: Track) -> None:
    """Count the leg between ``track`` and the worker's segments it continues or precedes.

    A phone sends a long patrol as segments, the next starting the instant the last ended
    (``started_at`` = the other's ``ended_at``). The leg from one segment's last position
    to the next's first is walked too: it counts in the later segment's length, whichever
    of the two arrives first. (A segment that repeats the last position, as client_sync's
    does, adds a leg of 0 m.)
    """
    mine = _measurable(track.points)
    if not mine:
        return
    before = session.scalar(select(Track).where(
        Track.worker_id == track.worker_id, Track.id != track.id,
        Track.started_at >= track.started_at - timedelta(days=1),  # the index's range
        Track.started_at <= track.started_at, Track.ended_at == track.started_at)
        .order_by(Track.id.desc()).limit(1))
    if before is not None and (theirs := _measurable(before.points)):
        track.length_m = round(track.length_m + path_length_m([theirs[-1], mine[0]]), 1)
    after = session.scalar(select(Track).where(
        Track.worker_id == track.worker_id, Track.id != track.id,
        Track.started_at == track.ended_at).order_by(Track.id).limit(1))
    if after is not None and (theirs := _measurable(after.points)):
        after.length_m = round(after.length_m + path_length_m([mine[-1], theirs[0]]), 1)
    session.flush()


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


def time_on_patrol_s(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """Seconds covered by the ``(start, end)`` spans, a stretch two of them share once."""
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is not None and start < reach:
            start = reach
        if end > start:
            total += (end - start).total_seconds()
        reach = end if reach is None else max(reach, end)
    return total


def _day_window(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def worker_day_tracks(session: Session, access: Access, *, worker_id: int | None, day: date,
                      zone: str) -> dict[str, Any]:
    """A worker's tracks that started on local ``day``, in time order, with the day's length
    and time on patrol. A grid worker may leave ``worker_id`` out: their own."""
    if worker_id is None:
        if access.role is not Role.GRID_WORKER:
            raise UnprocessableError("Choose a worker for the day's track.",
                                     errors={"worker": ["Required."]})
        worker_id = access.user.id
    start, end = _day_window(day, zone)
    tracks = list(session.scalars(
        track_query(access, {"worker_id": worker_id}, start, end)
        .options(undefer(Track.points), selectinload(Track.grids), selectinload(Track.worker))
        .order_by(Track.started_at, Track.id)))
    return {"worker_id": worker_id, "day": day,
            "length_m": round(sum(t.length_m for t in tracks), 1),
            "duration_s": time_on_patrol_s((t.started_at, t.ended_at) for t in tracks),
            "tracks": tracks}


def patrol_days(session: Session, access: Access, *, start: datetime, end: datetime,
                zone: str, worker_id: int | None = None) -> list[dict[str, Any]]:
    """Patrol length and time per worker per local day of ``[start, end)``, newest day
    first, then by worker name. A track counts on the day it started."""
    if end - start > timedelta(days=MAX_PATROL_DAYS):
        raise UnprocessableError(f"Ask for at most {MAX_PATROL_DAYS} days at a time.",
                                 errors={"from": [f"At most {MAX_PATROL_DAYS} days before to."]})
    query = (select(Track.worker_id, User.display_name, Track.started_at, Track.ended_at,
                    Track.length_m)  # never the points: a month holds thousands of tracks
             .join(User, User.id == Track.worker_id)
             .where(track_scope(access), Track.started_at >= start, Track.started_at < end))
    if worker_id is not None:
        query = query.where(Track.worker_id == worker_id)
    tz = ZoneInfo(zone)
    days: dict[tuple[date, int], dict[str, Any]] = {}
    spans: dict[tuple[date, int], list[tuple[datetime, datetime]]] = {}
    for worker, name, started, ended, length in session.execute(query):
        key = (started.astimezone(tz).date(), worker)
        row = days.setdefault(key, {"day": key[0], "worker_id": worker, "worker": name,
                                    "tracks": 0, "length_m": 0.0,
                                    "first_started_at": started, "last_ended_at": ended})
        row["tracks"] += 1
        row["length_m"] += length
        row["first_started_at"] = min(row["first_started_at"], started)
        row["last_ended_at"] = max(row["last_ended_at"], ended)
        spans.setdefault(key, []).append((started, ended))
    for key, row in days.items():
        row["length_m"] = round(row["length_m"], 1)
        row["duration_s"] = time_on_patrol_s(spans[key])
    return sorted(days.values(), key=lambda r: (-r["day"].toordinal(), r["worker"],
                                                r["worker_id"]))
