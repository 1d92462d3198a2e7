"""Demo patrol tracks (巡查轨迹): the last 14 days of each demo worker's patrols, walked
through the doors they visited, so the secretary's map draws a day and the dashboard counts
patrol length and time.

A worker's visits of a day fall into patrols where less than 45 minutes part two visits;
each patrol starts five minutes before its first visit, walks door to door at about
1.2 m/s with a position every 25 m (a fix a few metres off, as phones give), and ends five
minutes after its last. Visits logged far from the door (off_site) are walked to where they
were logged: the track shows it. A community with tracks already is left alone.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from geopy.distance import geodesic
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from server.geo import distance_m
from server.models import (
    Community,
    Grid,
    Role,
    Track,
    User,
    Visit,
    track_grids,
    user_grids,
)
from server.models.types import utcnow
from server.services.idempotency import body_digest
from server.services.tracks import track_length_m

__all__ = ["seed", "DAYS"]

DAYS = 14
_GAP = timedelta(minutes=45)
_LEAD = timedelta(minutes=5)
_STEP_M = 25.0
_NS = uuid.UUID("5b0c7a4e-2d1f-4c8e-9a37-1e6f0b2d4c58")
_SHANGHAI = ZoneInfo("Asia/Shanghai")


def _walk(rng: random.Random, stops: list[tuple[float, float, datetime]],
          ) -> list[list[Any]]:
    """Positions every ``_STEP_M`` along the legs between ``stops``, times interpolated."""
    points: list[list[Any]] = []
    for (lat1, lon1, t1), (lat2, lon2, t2) in zip(stops, stops[1:], strict=False):
        metres = distance_m((lat1, lon1), (lat2, lon2))
        steps = max(1, int(metres // _STEP_M))
        walked = min(t2 - t1, timedelta(seconds=metres / 1.2))  # then wait at the door
        for i in range(steps):
            share = i / steps
            here = geodesic(meters=metres * share).destination(
                (lat1, lon1), _bearing(lat1, lon1, lat2, lon2)) if share else None
            lat, lon = (here.latitude, here.longitude) if here else (lat1, lon1)
            jitter = geodesic(meters=rng.uniform(0, 4)).destination((lat, lon),
                                                                    rng.uniform(0, 360))
            points.append([jitter.latitude, jitter.longitude, round(rng.uniform(4, 18), 1),
                           t1 + walked * share])
    lat, lon, when = stops[-1]
    points.append([lat, lon, round(rng.uniform(4, 18), 1), when])
    return points


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from geographiclib.geodesic import Geodesic

    return float(Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2)["azi1"])


def _patrols(visits: list[Visit]) -> list[list[Visit]]:
    """The day's visits in time order, split where ``_GAP`` or more parts two."""
    groups: list[list[Visit]] = []
    for visit in visits:
        if groups and visit.visited_at - groups[-1][-1].visited_at < _GAP:
            groups[-1].append(visit)
        else:
            groups.append([visit])
    return groups


def _track_row(rng: random.Random, worker: User, community: Community, group: list[Visit],
               now: datetime) -> dict[str, Any]:
    first, last = group[0], group[-1]
    start = first.visited_at - _LEAD
    end = min(last.visited_at + _LEAD, now)
    approach = geodesic(meters=rng.uniform(120, 300)).destination(
        (first.lat, first.lon), rng.uniform(0, 360))
    stops = [(approach.latitude, approach.longitude, start)]
    stops += [(v.lat, v.lon, v.visited_at) for v in group]
    stops.append((last.lat, last.lon, end))
    points = _walk(rng, stops)
    stored = [[round(lat, 7), round(lon, 7), acc, round((when - start).total_seconds(), 3)]
              for lat, lon, acc, when in points]
    key = f"demo-track-{worker.id}-{first.id}"
    return {"client_uuid": str(uuid.uuid5(_NS, key)), "body_sha256": body_digest({"k": key}),
            "worker_id": worker.id, "community_id": community.id, "started_at": start,
            "ended_at": end, "received_at": end + timedelta(minutes=rng.uniform(1, 30)),
            "input_crs": "wgs84", "point_count": len(stored),
            "length_m": round(track_length_m(stored), 1), "points": stored}


def seed(session: Session, community: Community) -> Iterator[str]:
    """Add the demo workers' patrol tracks of the last ``DAYS`` days to ``community``."""
    grids = list(session.scalars(select(Grid.id).where(Grid.community_id == community.id)))
    if not grids:
        return
    if session.scalar(select(func.count(Track.id)).where(Track.community_id == community.id)):
        yield "Patrol tracks: the community has some already; left as they are."
        return
    rng = random.Random(20261205)  # noqa: S311 - reproducible demo data
    now = utcnow()
    since = now - timedelta(days=DAYS)
    workers = list(session.scalars(select(User).join(user_grids).where(
        user_grids.c.grid_id.in_(grids), User.role == Role.GRID_WORKER.value).distinct()
        .order_by(User.username)))
    rows: list[dict[str, Any]] = []
    homes: list[list[int]] = []
    for worker in workers:
        visits = list(session.scalars(select(Visit).where(
            Visit.worker_id == worker.id, Visit.visited_at >= since)
            .order_by(Visit.visited_at, Visit.id)))
        by_day: dict[Any, list[Visit]] = {}
        for visit in visits:
            by_day.setdefault(visit.visited_at.astimezone(_SHANGHAI).date(), []).append(visit)
        for day_visits in by_day.values():
            for group in _patrols(day_visits):
                rows.append(_track_row(rng, worker, community, group, now))
                homes.append(sorted(g.id for g in worker.grids))
    if not rows:
        return
    ids = session.execute(insert(Track).returning(Track.id, sort_by_parameter_order=True),
                          rows).scalars().all()
    links = [{"track_id": tid, "grid_id": gid} for tid, gids in zip(ids, homes, strict=True)
             for gid in gids]
    if links:
        session.execute(insert(track_grids), links)
    km = sum(r["length_m"] for r in rows) / 1000
    yield (f"Patrol tracks: {len(rows)} over the last {DAYS} days by {len(workers)} workers, "
           f"{km:.1f} km in all.")
