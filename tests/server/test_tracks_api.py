"""Patrol tracks (巡查轨迹): record, replay, validation, length, scope, and the sync batch."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from server.extensions import db
from server.geo import distance_m, from_wgs84
from server.models import Track
from server.services.tracks import time_on_patrol_s
from tests.server.visit_support import point_at

URL = "/api/v1/tracks"
NOW = datetime.now(UTC).replace(microsecond=0)
G1 = (28.8010, 113.0710)


def walk(start: tuple[float, float] = G1, legs: int = 6, leg_m: float = 40.0,
         bearing: float = 90.0) -> list[tuple[float, float]]:
    """Points ``leg_m`` apart on ``bearing`` from ``start``: a straight patrol."""
    points = [start]
    for _ in range(legs):
        points.append(point_at(points[-1], leg_m, bearing))
    return points


def track_body(points: list[tuple[float, float]] | None = None, *, accuracy: float = 8.0,
               start: datetime | None = None, step_s: int = 30, **extra: Any,
               ) -> dict[str, Any]:
    """A POST /tracks body: the points ``step_s`` apart, as arrays, ending a minute ago."""
    points = walk() if points is None else points
    first = start or NOW - timedelta(seconds=step_s * len(points) + 60)
    return {"client_uuid": str(uuid.uuid4()), "started_at": first.isoformat(),
            "ended_at": (first + timedelta(seconds=step_s * len(points))).isoformat(),
            "points": [[lat, lon, accuracy,
                        (first + timedelta(seconds=step_s * i)).isoformat()]
                       for i, (lat, lon) in enumerate(points)], **extra}


@pytest.fixture
def worker(factory):
    return factory.actor("grid_worker", grids=("G1",))


def post(client, actor, body):
    return client.post(URL, json=body, headers=actor.headers)


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Track))


def test_a_track_is_stored_with_its_length_along_the_points(client, factory, worker):
    points = walk(legs=6, leg_m=40.0)
    body = track_body(points)
    resp = post(client, worker, body)
    assert resp.status_code == 201, resp.json
    track = resp.json
    expected = sum(distance_m(a, b) for a, b in zip(points, points[1:], strict=False))
    assert track["length_m"] == pytest.approx(expected, abs=0.2)
    assert 239 < track["length_m"] < 241
    assert track["point_count"] == 7
    assert track["duration_s"] == 7 * 30
    assert track["worker_id"] == worker.id
    assert track["grid_ids"] == [factory.grid("G1").id]
    assert track["community_id"] == factory.grid("G1").community_id
    lat, lon, accuracy, when = track["points"][3]
    assert (lat, lon, accuracy) == (pytest.approx(points[3][0]), pytest.approx(points[3][1]),
                                    8.0)
    assert datetime.fromisoformat(when) == datetime.fromisoformat(body["points"][3][3])
    assert when.endswith("+00:00")


def test_points_as_objects_are_the_same_track_as_points_as_arrays(client, worker):
    body = track_body()
    as_objects = {**body, "points": [dict(zip(("lat", "lon", "accuracy_m", "recorded_at"),
                                              p, strict=True)) for p in body["points"]]}
    first = post(client, worker, body)
    again = post(client, worker, as_objects)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]


def test_the_same_track_sent_twice_is_one_track(client, worker):
    body = track_body()
    first = post(client, worker, body)
    second = post(client, worker, body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json == first.json
    assert count() == 1


def test_another_body_under_the_same_client_uuid_is_a_conflict(client, worker):
    body = track_body()
    assert post(client, worker, body).status_code == 201
    changed = {**body, "points": body["points"][:-1]}
    resp = post(client, worker, changed)
    assert resp.status_code == 409
    assert resp.json["type"].endswith("/conflict")
    assert resp.json["client_uuid"] == body["client_uuid"]
    assert count() == 1


def test_a_client_uuid_of_another_workers_track_is_a_conflict(client, factory, worker):
    body = track_body()
    assert post(client, worker, body).status_code == 201
    other = factory.actor("grid_worker", grids=("G1",))
    resp = post(client, other, body)
    assert resp.status_code == 409
    assert count() == 1


def test_points_with_a_poor_fix_are_drawn_but_not_measured(client, worker):
    body = track_body(walk(legs=4, leg_m=50.0))
    body["points"][2][2] = 350.0  # a 350 m fix in the middle: left out of the length
    resp = post(client, worker, body)
    assert resp.status_code == 201
    assert resp.json["point_count"] == 5
    assert 199 < resp.json["length_m"] < 201  # 0→1→3→4 along a straight line is 200 m


def test_gcj02_points_are_stored_in_wgs84(client, worker):
    points = walk(legs=2)
    shifted = [from_wgs84(lat, lon, "gcj02") for lat, lon in points]
    resp = post(client, worker, track_body(shifted, crs="gcj02"))
    assert resp.status_code == 201
    lat, lon = resp.json["points"][0][:2]
    assert distance_m((lat, lon), points[0]) < 1.0


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["points"].reverse(), "points"),
    (lambda b: b["points"].append([28.8, 113.07, 5, (NOW + timedelta(days=1)).isoformat()]),
     "points"),
    (lambda b: b["points"].append([91, 113.07, 5, b["ended_at"]]), "points"),
    (lambda b: b["points"].append([28.8, 113.07, 5]), "points"),
    (lambda b: b["points"].append({"lat": 28.8, "lon": 113.07, "speed": 3,
                                   "recorded_at": b["ended_at"]}), "points"),
    (lambda b: b["points"].append([28.8, 113.07, 5, "2026-12-05T08:00:00"]), "points"),
    (lambda b: b.update(ended_at=(NOW - timedelta(days=1)).isoformat()), "ended_at"),
    (lambda b: b.update(started_at=(NOW - timedelta(hours=25)).isoformat()), "ended_at"),
    (lambda b: b.update(crs="baidu"), "crs"),
])
def test_a_bad_track_is_422_naming_the_field(client, worker, change, field):
    body = track_body()
    change(body)
    resp = post(client, worker, body)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]
    assert count() == 0


def test_more_than_5000_points_is_refused(client, worker):
    start = NOW - timedelta(hours=2)
    body = track_body([G1] * 5001, start=start, step_s=1)
    resp = post(client, worker, body)
    assert resp.status_code == 422
    assert "points" in resp.json["errors"]


def test_a_track_that_ends_in_the_future_is_refused(client, worker):
    body = track_body(start=NOW + timedelta(hours=1))
    resp = post(client, worker, body)
    assert resp.status_code == 422
    assert "ended_at" in resp.json["errors"]


def test_a_patrol_with_no_fix_keeps_its_time(client, worker):
    body = track_body([], start=NOW - timedelta(minutes=30))
    body["ended_at"] = (NOW - timedelta(minutes=10)).isoformat()
    resp = post(client, worker, body)
    assert resp.status_code == 201
    assert (resp.json["length_m"], resp.json["duration_s"]) == (0.0, 1200.0)


def test_who_may_record_a_track(client, factory):
    for role, status in (("supervisor", 201), ("building_head", 403), ("department", 403),
                         ("secretary", 403), ("dispatcher", 403)):
        actor = factory.actor(role)
        assert post(client, actor, track_body()).status_code == status, role
    assert client.post(URL, json=track_body()).status_code == 401


def test_a_worker_reads_only_their_own_tracks(client, factory, worker):
    track_id = post(client, worker, track_body()).json["id"]
    neighbour = factory.actor("grid_worker", grids=("G2",))
    own = post(client, neighbour, track_body(walk(start=factory.G2_CENTER))).json["id"]
    resp = client.get(f"{URL}/{track_id}", headers=neighbour.headers)
    assert resp.status_code == 404
    listed = client.get(URL, headers=neighbour.headers).json["items"]
    assert [t["id"] for t in listed] == [own]
    assert client.get(f"{URL}/{track_id}", headers=worker.headers).status_code == 200
    # A colleague of the same grid does not see where this worker walked.
    colleague = factory.actor("grid_worker", grids=("G1",))
    assert client.get(f"{URL}/{track_id}", headers=colleague.headers).status_code == 404
    assert client.get(URL, headers=colleague.headers).json["items"] == []


def test_the_secretary_and_the_supervisor_read_the_tracks_of_their_grids(client, factory,
                                                                         worker):
    track_id = post(client, worker, track_body()).json["id"]
    for role, status in (("secretary", 200), ("supervisor", 200), ("dispatcher", 200),
                         ("admin", 200), ("department", 403), ("building_head", 403)):
        actor = factory.actor(role)
        resp = client.get(f"{URL}/{track_id}", headers=actor.headers)
        assert resp.status_code == status, role
    elsewhere = factory.actor("supervisor", grids=("G2",))
    assert client.get(f"{URL}/{track_id}", headers=elsewhere.headers).status_code == 404


def test_the_list_filters_by_worker_and_day(client, factory, worker):
    other = factory.actor("grid_worker", grids=("G1",))
    yesterday = NOW - timedelta(days=1)
    old = post(client, worker, track_body(start=yesterday)).json["id"]
    new = post(client, worker, track_body()).json["id"]
    post(client, other, track_body())
    secretary = factory.actor("secretary")
    mine = client.get(URL, query_string={"worker_id": worker.id},
                      headers=secretary.headers).json["items"]
    assert [t["id"] for t in mine] == [new, old]
    assert "points" not in mine[0]
    since = (NOW - timedelta(hours=2)).isoformat()
    recent = client.get(URL, query_string={"worker_id": worker.id, "from": since},
                        headers=secretary.headers).json["items"]
    assert [t["id"] for t in recent] == [new]


# -- the sync batch ------------------------------------------------------------------------


def record(body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "track", "client_uuid": body["client_uuid"], "body": body}


def test_a_track_in_a_sync_batch_is_recorded_once(client, worker):
    body = track_body()
    batch = {"records": [record(body)]}
    first = client.post("/api/v1/sync/batch", json=batch, headers=worker.headers)
    again = client.post("/api/v1/sync/batch", json=batch, headers=worker.headers)
    assert first.status_code == 200, first.json
    (made,), (replayed,) = first.json["results"], again.json["results"]
    assert (made["status"], replayed["status"]) == (201, 200)
    assert made["id"] == replayed["id"] and made["kind"] == "track"
    assert count() == 1
    direct = post(client, worker, body)
    assert (direct.status_code, direct.json["id"]) == (200, made["id"])


def test_a_batch_track_under_a_used_uuid_with_another_body_is_409_and_fails_alone(
        client, worker):
    body = track_body()
    assert post(client, worker, body).status_code == 201
    changed = {**body, "points": body["points"][:2]}
    fresh = track_body()
    resp = client.post("/api/v1/sync/batch", json={"records": [record(changed), record(fresh)]},
                       headers=worker.headers)
    conflict, made = resp.json["results"]
    assert conflict["status"] == 409
    assert conflict["problem"]["type"].endswith("/conflict")
    assert made["status"] == 201
    assert count() == 2


def test_a_bad_track_in_a_batch_is_422_with_its_field_errors(client, worker):
    body = track_body()
    body["points"].reverse()
    resp = client.post("/api/v1/sync/batch", json={"records": [record(body)]},
                       headers=worker.headers)
    (result,) = resp.json["results"]
    assert result["status"] == 422
    assert "points" in result["problem"]["errors"]


def test_a_building_head_may_not_push_a_track(client, factory):
    head = factory.actor("building_head")
    resp = client.post("/api/v1/sync/batch", json={"records": [record(track_body())]},
                       headers=head.headers)
    assert resp.json["results"][0]["status"] == 403


# -- the map's day track and the dashboard's patrol figures --------------------------------

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BEIJING)


def test_time_on_patrol_counts_overlapping_tracks_once():
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    at = [t0 + timedelta(minutes=m) for m in range(200)]
    assert time_on_patrol_s([(at[0], at[60]), (at[30], at[90]), (at[120], at[150]),
                             (at[125], at[130])]) == 120 * 60
    assert time_on_patrol_s([]) == 0


def test_the_map_draws_a_workers_day_from_its_tracks(client, factory, worker):
    day = (NOW.astimezone(BEIJING) - timedelta(days=2)).date()
    morning = post(client, worker, track_body(walk(legs=4, leg_m=50),
                                              start=beijing(day, 8))).json
    afternoon = post(client, worker, track_body(walk(legs=2, leg_m=50),
                                                start=beijing(day, 14))).json
    post(client, worker, track_body(start=beijing(day, 8) - timedelta(days=1)))  # day before
    secretary = factory.actor("secretary")
    resp = client.get("/api/v1/map/tracks", query_string={"worker": worker.id,
                                                          "day": day.isoformat()},
                      headers=secretary.headers)
    assert resp.status_code == 200, resp.json
    data = resp.json
    assert [t["id"] for t in data["tracks"]] == [morning["id"], afternoon["id"]]
    assert data["tracks"][0]["points"] == morning["points"]
    assert data["length_m"] == pytest.approx(300.0, abs=0.5)
    assert data["duration_s"] == 5 * 30 + 3 * 30
    neighbour = factory.actor("grid_worker", grids=("G2",))
    hidden = client.get("/api/v1/map/tracks", query_string={"worker": worker.id,
                                                            "day": day.isoformat()},
                        headers=neighbour.headers)
    assert hidden.status_code == 200 and hidden.json["tracks"] == []
    own = client.get("/api/v1/map/tracks", query_string={"day": day.isoformat()},
                     headers=worker.headers)
    assert len(own.json["tracks"]) == 2
    assert client.get("/api/v1/map/tracks", query_string={"day": day.isoformat()},
                      headers=secretary.headers).status_code == 422


def test_patrol_figures_per_worker_per_day(client, factory, worker):
    other = factory.actor("grid_worker", grids=("G2",))
    day = (NOW.astimezone(BEIJING) - timedelta(days=3)).date()
    before = day - timedelta(days=1)
    post(client, worker, track_body(walk(legs=4, leg_m=50), start=beijing(day, 8)))
    post(client, worker, track_body(walk(legs=2, leg_m=50), start=beijing(day, 8, 1)))
    post(client, worker, track_body(walk(legs=1, leg_m=30), start=beijing(before, 23, 58)))
    post(client, other, track_body(walk(start=factory.G2_CENTER, legs=3, leg_m=20),
                                   start=beijing(day, 9)))
    secretary = factory.actor("secretary")
    resp = client.get("/api/v1/stats/patrols", headers=secretary.headers, query_string={
        "from": before.isoformat(), "to": (day + timedelta(days=1)).isoformat()})
    assert resp.status_code == 200, resp.json
    rows = [(r["day"], r["worker_id"], r["tracks"], r["length_m"], r["duration_s"])
            for r in resp.json["items"]]
    by_key = {(d, w): (n, length, secs) for d, w, n, length, secs in rows}
    assert by_key[(day.isoformat(), worker.id)] == (2, pytest.approx(300.0, abs=0.5), 150.0)
    assert by_key[(day.isoformat(), other.id)] == (1, pytest.approx(60.0, abs=0.5), 120.0)
    # the track begun two minutes before midnight counts on the day it started
    assert by_key[(before.isoformat(), worker.id)] == (1, pytest.approx(30.0, abs=0.5), 60.0)
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)
    names = [r["worker"] for r in resp.json["items"] if r["day"] == day.isoformat()]
    assert len(names) == 2 and names == sorted(names)
    mine = client.get("/api/v1/stats/patrols", headers=other.headers, query_string={
        "from": before.isoformat(), "to": (day + timedelta(days=1)).isoformat()}).json
    assert {r["worker_id"] for r in mine["items"]} == {other.id}
    department = factory.actor("department")
    assert client.get("/api/v1/stats/patrols",
                      headers=department.headers).status_code == 403
    too_long = client.get("/api/v1/stats/patrols", headers=secretary.headers,
                          query_string={"from": "2024-01-01", "to": "2026-01-01"})
    assert too_long.status_code == 422


def test_the_list_and_the_figures_never_read_the_positions(client, factory, worker):
    """A month of a community's tracks holds millions of positions: only a day's are read."""
    post(client, worker, track_body())
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    secretary = factory.actor("secretary")
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert client.get(URL, headers=secretary.headers).status_code == 200
        assert client.get("/api/v1/stats/patrols", headers=secretary.headers).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    reads = [s for s in statements if "FROM track" in s]
    assert reads and not any("track.points" in s for s in reads), reads


@pytest.mark.parametrize("order", ["in order", "later segment first"])
def test_segments_that_continue_each_other_count_the_leg_between_them(client, worker, order):
    """The field app starts a segment the instant the last ended, with a new position; the
    30 m walked between the two segments counts, whichever arrives first."""
    path = walk(legs=7, leg_m=30.0)
    start = NOW - timedelta(hours=1)
    first = track_body(path[:4], start=start)
    second = track_body(path[4:], start=start + timedelta(seconds=4 * 30))
    assert second["started_at"] == first["ended_at"]
    bodies = [first, second] if order == "in order" else [second, first]
    for body in bodies:
        assert post(client, worker, body).status_code == 201
    lengths = {t.client_uuid: t.length_m for t in db.session.scalars(select(Track))}
    assert lengths[first["client_uuid"]] == pytest.approx(90.0, abs=0.2)
    assert lengths[second["client_uuid"]] == pytest.approx(120.0, abs=0.2)  # 30 m + 90 m
    other = post(client, worker, track_body(walk(legs=1, leg_m=50.0),
                                            start=NOW - timedelta(hours=3))).json
    assert other["length_m"] == pytest.approx(50.0, abs=0.2)  # not continuing anything
