"""Patrol tracks (巡查轨迹): record, replay, validation, length, scope, and the sync batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.geo import distance_m, from_wgs84
from server.models import Track
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


def test_a_worker_cannot_read_another_grids_tracks(client, factory, worker):
    track_id = post(client, worker, track_body()).json["id"]
    neighbour = factory.actor("grid_worker", grids=("G2",))
    own = post(client, neighbour, track_body(walk(start=factory.G2_CENTER))).json["id"]
    resp = client.get(f"{URL}/{track_id}", headers=neighbour.headers)
    assert resp.status_code == 404
    listed = client.get(URL, headers=neighbour.headers).json["items"]
    assert [t["id"] for t in listed] == [own]
    assert client.get(f"{URL}/{track_id}", headers=worker.headers).status_code == 200
    colleague = factory.actor("grid_worker", grids=("G1",))
    assert client.get(f"{URL}/{track_id}", headers=colleague.headers).status_code == 200


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
