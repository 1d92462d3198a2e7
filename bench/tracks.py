"""Patrol tracks: what recording one costs the server, and what the map and dashboard read.

Usage: python bench/tracks.py [--database sqlite|postgres] [--runs N] [--days N]
       (postgres: $GRIDWORK_BENCH_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test
       names the server; the bench makes a database of its own there and drops it)

In process (the Flask test client, no network), on a fresh database:
- POST /api/v1/tracks of a 12-hour patrol at one position every 30 s (1,440 positions), each
  run a new track, against POST /api/v1/visits of one visit timed in the same run (the
  request a worker sends most);
- GET /api/v1/map/tracks for a worker's day held as 12 segments of 120 positions, against
  GET /api/v1/visits?limit=50 in the same run;
- GET /api/v1/stats/patrols for a community month (8 workers, --days days, 10 segments a
  day), against a count(*) over the same tracks.
Prints the median and worst of --runs runs of each and the ratio of medians; no goal is set
by the issue, these are the figures to watch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select  # noqa: E402

from bench.common import (  # noqa: E402
    load_average,
    median_worst,
    one_grid_community,
    own_database,
    samples_ms,
    scratch_name,
    summary,
)
from schemas.households import HouseholdCreateSchema  # noqa: E402
from server import create_app  # noqa: E402
from server.extensions import db  # noqa: E402
from server.models import Community, Track, User, track_grids  # noqa: E402
from server.services.access import access_for  # noqa: E402
from server.services.auth import create_user, issue_token  # noqa: E402
from server.services.households import create_household  # noqa: E402

CENTER = (28.802, 113.074)
NOW = datetime.now(UTC).replace(microsecond=0)


def _track(start: datetime, n: int, step_s: int = 30) -> dict[str, Any]:
    """A patrol of ``n`` positions ``step_s`` apart walking a loop around the grid."""
    points = []
    for i in range(n):
        lat = CENTER[0] + 0.0015 * ((i % 200) / 200 - 0.5)
        lon = CENTER[1] + 0.003 * (((i // 200) % 2) - 0.5) + 0.00001 * (i % 7)
        points.append([lat, lon, 8.0, (start + timedelta(seconds=step_s * i)).isoformat()])
    return {"client_uuid": str(uuid.uuid4()), "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=step_s * n)).isoformat(), "points": points}


def _world() -> tuple[dict[str, str], list[int], int]:
    """A community, its grid, a building and a household, 8 workers; headers of the first."""
    building = one_grid_community(db.session, CENTER)
    workers = [create_user(db.session, f"w{i}", "bench pass 2026", "grid_worker",
                           grid_codes=("G1",)) for i in range(8)]
    home, _ = create_household(db.session, access_for(db.session, workers[0]),
                               HouseholdCreateSchema().load({"building_id": building.id,
                                                             "door": "101", "head_name": "住户"}))
    create_user(db.session, "shuji", "bench pass 2026", "secretary", community_code="C1")
    token, _ = issue_token(db.session, workers[0], ttl_hours=2)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}, [w.id for w in workers], home.id


def _fill_month(workers: list[int], community_id: int, grid_id: int, days: int) -> int:
    """10 segments a day of 120 positions for each worker over ``days`` days (bulk)."""
    points = [[CENTER[0] + 0.00001 * i, CENTER[1], 8.0, 30.0 * i] for i in range(120)]
    rows = []
    for worker in workers:
        for day in range(1, days + 1):
            for seg in range(10):
                start = NOW - timedelta(days=day) + timedelta(hours=seg)
                rows.append({"client_uuid": str(uuid.uuid4()), "body_sha256": "0" * 64,
                             "worker_id": worker, "community_id": community_id,
                             "started_at": start, "ended_at": start + timedelta(hours=1),
                             "received_at": start + timedelta(hours=1), "input_crs": "wgs84",
                             "point_count": 120, "length_m": 130.0, "points": points})
    ids = db.session.execute(insert(Track).returning(Track.id, sort_by_parameter_order=True),
                             rows).scalars().all()
    db.session.execute(insert(track_grids), [{"track_id": i, "grid_id": grid_id} for i in ids])
    db.session.commit()
    return len(rows)


def _line(name: str, times: list[float], baseline: list[float] | None = None) -> None:
    ratio = ""
    if baseline:
        ratio = f"  = {median_worst(times)[0] / median_worst(baseline)[0]:5.1f}x the baseline"
    print(f"  {name:<58} {summary(times)}{ratio}")


def run(url: str, runs: int, days: int) -> None:
    """Build the world at ``url`` and print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE_DIR": tmp,
                          "DATABASE_URL": url, "MEDIA_DIR": str(Path(tmp) / "media"),
                          "RATELIMIT_ENABLED": False})
        with app.app_context():
            db.create_all()
            headers, workers, household = _world()
            client = app.test_client()
            print(f"{db.engine.dialect.name}; {load_average()}")

            def post_visit() -> None:
                body = {"client_uuid": str(uuid.uuid4()), "household_id": household,
                        "visited_at": (NOW - timedelta(hours=1)).isoformat(), "outcome": "met",
                        "location": {"lat": CENTER[0], "lon": CENTER[1], "accuracy_m": 8}}
                assert client.post("/api/v1/visits", json=body, headers=headers).status_code == 201

            def post_track() -> None:
                body = _track(NOW - timedelta(hours=13), 1440)
                assert client.post("/api/v1/tracks", json=body, headers=headers).status_code == 201

            visit = samples_ms(post_visit, runs)
            _line("POST /visits, one visit (baseline)", visit)
            _line("POST /tracks, 12 h at 30 s: 1,440 positions", samples_ms(post_track, runs),
                  visit)
            day = NOW - timedelta(days=2)
            for seg in range(12):
                body = _track(day.replace(hour=0) + timedelta(hours=seg), 120)
                assert client.post("/api/v1/tracks", json=body, headers=headers).status_code == 201
            local_day = (day.replace(hour=0) + timedelta(hours=8)).date().isoformat()
            listing = samples_ms(lambda: client.get("/api/v1/visits", headers=headers), runs)
            _line("GET /visits?limit=50 (baseline)", listing)
            _line("GET /map/tracks, a day of 12 segments x 120 positions",
                  samples_ms(lambda: client.get("/api/v1/map/tracks", headers=headers,
                                                query_string={"day": local_day}), runs),
                  listing)
            community = db.session.scalars(select(Community)).one()
            n = _fill_month(workers, community.id, community.grids[0].id, days)
            shuji = db.session.scalars(select(User).where(User.username == "shuji")).one()
            secretary = {"Authorization": "Bearer " + issue_token(db.session, shuji,
                                                                  ttl_hours=2)[0]}
            db.session.commit()
            since = NOW - timedelta(days=days + 1)
            count = samples_ms(lambda: db.session.scalar(select(func.count(Track.id)).where(
                Track.community_id == community.id, Track.started_at >= since)), runs)
            _line(f"count(*) of the community's {n:,} tracks (baseline)", count)
            query = {"from": since.isoformat(), "to": NOW.isoformat()}
            _line(f"GET /stats/patrols, {len(workers)} workers x {days} days",
                  samples_ms(lambda: client.get("/api/v1/stats/patrols", headers=secretary,
                                                query_string=query), runs), count)
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", args.runs, args.days)
        return
    server = os.environ.get("GRIDWORK_BENCH_DATABASE_URL",
                            "postgresql://postgres@127.0.0.1:5432/test")
    with own_database(server, scratch_name("gridwork_bench_tracks")) as url:
        run(url, args.runs, args.days)


if __name__ == "__main__":
    main()
