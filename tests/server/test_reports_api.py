"""Reports: creation with flags and replay safety, reading in scope, the map's GeoJSON."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.models import Category, Department, Report
from server.models.types import utcnow
from tests.server.storage.imagegen import make_jpeg

G1_POINT = (28.802, 113.074)
G2_POINT = (28.802, 113.082)


def report_body(photo_ids: list[str], *, point: tuple[float, float] = G1_POINT,
                category: str = "garbage", captured_at: datetime | None = None,
                **extra: Any) -> dict[str, Any]:
    """A valid report body at ``point`` (WGS-84) with the given photos."""
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "category": category,
        "description": "北岸垃圾堆积",
        "location": {"lat": point[0], "lon": point[1], "accuracy_m": 8.0},
        "captured_at": (captured_at or utcnow() - timedelta(minutes=5)).isoformat(),
        "photo_ids": photo_ids,
    }
    body.update(extra)
    return body


def upload(client, actor, **exif: Any) -> str:
    """Upload a small JPEG (with the given EXIF) and return its id."""
    from tests.server.test_photos_api import post_photo

    resp = post_photo(client, actor, make_jpeg(64, 48, **exif), client_uuid=str(uuid.uuid4()))
    assert resp.status_code == 201, resp.json
    return str(resp.json["id"])


def create(client, actor, **kwargs: Any) -> dict[str, Any]:
    """Upload a photo and report it; return the report."""
    photo = upload(client, actor, gps=kwargs.pop("photo_gps", None) or kwargs.get(
        "point", G1_POINT))
    resp = client.post("/api/v1/reports", json=report_body([photo], **kwargs),
                       headers=actor.headers)
    assert resp.status_code == 201, resp.json
    return dict(resp.json)


def test_report_with_photos_round_trips(client, factory):
    worker = factory.actor("grid_worker")
    photos = [upload(client, worker, gps=G1_POINT) for _ in range(3)]
    body = report_body(photos)
    resp = client.post("/api/v1/reports", json=body, headers=worker.headers)
    assert resp.status_code == 201, resp.json
    report = resp.json
    assert report["photo_ids"] == photos  # in the order sent
    assert report["grid"] == "G1" and report["status"] == "reported"
    assert report["flags"] == [] and report["possible_duplicate_of"] is None
    assert report["category"] == "garbage"
    assert report["location"]["lat"] == pytest.approx(G1_POINT[0])
    assert report["captured_at"].endswith("+00:00")
    assert report["reporter"]["id"] == worker.id
    again = client.get(f"/api/v1/reports/{report['id']}", headers=worker.headers)
    assert again.status_code == 200 and again.json == report


def test_replay_answers_200_with_the_first_report(client, factory, db):
    worker = factory.actor("grid_worker")
    body = report_body([upload(client, worker)])
    first = client.post("/api/v1/reports", json=body, headers=worker.headers)
    again = client.post("/api/v1/reports", json=body, headers=worker.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1


def test_replay_with_the_same_time_in_another_offset_is_still_a_replay(client, factory):
    worker = factory.actor("grid_worker")
    when = datetime(2026, 11, 20, 6, 37, tzinfo=UTC)
    body = report_body([upload(client, worker)], captured_at=when)
    assert client.post("/api/v1/reports", json=body, headers=worker.headers).status_code == 201
    body["captured_at"] = "2026-11-20T14:37:00+08:00"
    assert client.post("/api/v1/reports", json=body, headers=worker.headers).status_code == 200


def test_same_uuid_with_another_body_is_409(client, factory):
    worker = factory.actor("grid_worker")
    body = report_body([upload(client, worker)])
    client.post("/api/v1/reports", json=body, headers=worker.headers)
    body["description"] = "改了"
    resp = client.post("/api/v1/reports", json=body, headers=worker.headers)
    assert resp.status_code == 409 and resp.json["type"] == "/problems/conflict"


def test_another_user_replaying_the_same_body_gets_409_not_the_report(client, factory):
    worker = factory.actor("grid_worker")
    body = report_body([upload(client, worker)])
    assert client.post("/api/v1/reports", json=body, headers=worker.headers).status_code == 201
    secretary = factory.actor("secretary")
    resp = client.post("/api/v1/reports", json=body, headers=secretary.headers)
    assert resp.status_code == 409 and "id" not in resp.json


def test_photo_not_uploaded_yet_is_409_dependency_missing(client, factory, db):
    worker = factory.actor("grid_worker")
    present, absent = upload(client, worker), str(uuid.uuid4())
    resp = client.post("/api/v1/reports", json=report_body([present, absent]),
                       headers=worker.headers)
    assert resp.status_code == 409
    assert resp.json["type"] == "/problems/dependency_missing"
    assert resp.json["missing"] == [{"kind": "photo", "client_uuid": absent}]
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_another_grids_photo_answers_as_one_not_uploaded_yet(client, factory):
    """A photo the reporter may not see is refused exactly as an unknown id is, so the
    answer tells nobody which photo ids exist."""
    worker = factory.actor("grid_worker")
    other = factory.actor("grid_worker", grids=("G2",))
    theirs, absent = upload(client, other), str(uuid.uuid4())
    answers = [client.post("/api/v1/reports", json=report_body([pid]), headers=worker.headers)
               for pid in (theirs, absent)]
    assert [a.status_code for a in answers] == [409, 409]
    assert [a.json["type"] for a in answers] == ["/problems/dependency_missing"] * 2
    assert [a.json["missing"] for a in answers] == [
        [{"kind": "photo", "client_uuid": pid}] for pid in (theirs, absent)]
    assert answers[0].json["detail"] == answers[1].json["detail"]
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


@pytest.mark.parametrize("change,field", [
    ({"photo_ids": []}, "photo_ids"),
    ({"category": "no_such_thing"}, "category"),
    ({"captured_at": "2026-11-20T06:37:00"}, "captured_at"),
    ({"location": {"lat": 95, "lon": 113.0}}, "location"),
    ({"location": {"lat": 28.8, "lon": 113.0, "crs": "mars"}}, "location"),
])
def test_invalid_report_is_422_naming_the_field(client, factory, change, field):
    worker = factory.actor("grid_worker")
    body = report_body([upload(client, worker)]) | change
    resp = client.post("/api/v1/reports", json=body, headers=worker.headers)
    assert resp.status_code == 422
    assert field in resp.json["errors"]


def test_capture_time_in_the_future_is_422(client, factory):
    worker = factory.actor("grid_worker")
    body = report_body([upload(client, worker)], captured_at=utcnow() + timedelta(hours=2))
    resp = client.post("/api/v1/reports", json=body, headers=worker.headers)
    assert resp.status_code == 422 and "captured_at" in resp.json["errors"]


def test_retired_category_is_refused_but_old_reports_keep_it(client, factory, db):
    worker = factory.actor("grid_worker")
    old = create(client, worker, category="street_vendor")
    db.session.get(Category, "street_vendor").active = False
    db.session.commit()
    resp = client.post("/api/v1/reports", json=report_body([upload(client, worker)],
                                                           category="street_vendor"),
                       headers=worker.headers)
    assert resp.status_code == 422 and "category" in resp.json["errors"]
    kept = client.get(f"/api/v1/reports/{old['id']}", headers=worker.headers)
    assert kept.json["category"] == "street_vendor"


def test_report_outside_every_grid_is_accepted_and_flagged(client, factory):
    worker = factory.actor("grid_worker")
    report = create(client, worker, point=(28.9, 113.2))
    assert report["grid"] is None and report["flags"] == ["outside_grid"]
    assert client.get(f"/api/v1/reports/{report['id']}",
                      headers=worker.headers).status_code == 200


def test_photo_gps_far_from_the_report_is_flagged_location_mismatch(client, factory):
    worker = factory.actor("grid_worker")
    far = (G1_POINT[0] + 0.002, G1_POINT[1])  # about 220 m north
    report = create(client, worker, photo_gps=far)
    assert report["flags"] == ["location_mismatch"]
    [evidence] = report["flag_detail"]["location_mismatch"]
    assert evidence["distance_m"] == pytest.approx(221.7, abs=1.0)


def test_photo_gps_within_the_limit_is_not_flagged(client, factory):
    worker = factory.actor("grid_worker")
    near = (G1_POINT[0] + 0.0005, G1_POINT[1])  # about 55 m
    assert create(client, worker, photo_gps=near)["flags"] == []


def test_photo_taken_long_before_the_report_is_flagged_stale(client, factory):
    worker = factory.actor("grid_worker")
    captured = datetime(2026, 11, 20, 6, 37, tzinfo=UTC)
    old_photo = upload(client, worker, gps=G1_POINT, taken_at=datetime(2026, 11, 18, 8, 0),
                       offset="+00:00")
    fresh_photo = upload(client, worker, gps=G1_POINT, taken_at=datetime(2026, 11, 20, 6, 0),
                         offset="+00:00")
    resp = client.post("/api/v1/reports", json=report_body([fresh_photo, old_photo],
                                                           captured_at=captured),
                       headers=worker.headers)
    assert resp.json["flags"] == ["stale_photo"]
    assert resp.json["flag_detail"]["stale_photo"] == [
        {"photo_id": old_photo, "hours_before": 46.6}]


def test_open_report_of_same_category_nearby_is_linked_as_possible_duplicate(client, factory):
    worker = factory.actor("grid_worker")
    first = create(client, worker)
    near = (G1_POINT[0] + 0.0002, G1_POINT[1])  # about 22 m
    second = create(client, factory.actor("grid_worker"), point=near, photo_gps=near)
    assert second["possible_duplicate_of"] == first["id"]
    assert "possible_duplicate" in second["flags"]
    other_category = create(client, worker, point=near, category="drain")
    assert other_category["possible_duplicate_of"] is None


def test_far_closed_or_old_reports_are_not_duplicates(client, factory, db):
    worker = factory.actor("grid_worker")
    first = create(client, worker)
    far = (G1_POINT[0] + 0.001, G1_POINT[1])  # about 110 m
    assert create(client, worker, point=far)["possible_duplicate_of"] is None
    later = utcnow() + timedelta(minutes=5) - timedelta(hours=30)
    assert create(client, worker, captured_at=later)["possible_duplicate_of"] is None
    db.session.get(Report, first["id"]).status = "closed"
    db.session.commit()
    assert create(client, worker)["possible_duplicate_of"] != first["id"]


def test_gcj02_point_is_stored_as_wgs84(client, factory):
    from server.geo import from_wgs84

    worker = factory.actor("grid_worker")
    gcj = from_wgs84(*G1_POINT, "gcj02")
    assert abs(gcj[1] - G1_POINT[1]) > 0.003  # the offset is hundreds of metres
    body = report_body([upload(client, worker, gps=G1_POINT)])
    body["location"] = {"lat": gcj[0], "lon": gcj[1], "crs": "gcj02"}
    report = client.post("/api/v1/reports", json=body, headers=worker.headers).json
    assert report["location"]["lat"] == pytest.approx(G1_POINT[0], abs=1e-5)
    assert report["location"]["lon"] == pytest.approx(G1_POINT[1], abs=1e-5)
    assert report["grid"] == "G1" and report["flags"] == []


def test_roles_without_reports_create_get_403(client, factory):
    for role in ("department", "dispatcher"):
        actor = factory.actor(role)
        resp = client.post("/api/v1/reports", json=report_body([str(uuid.uuid4())]),
                           headers=actor.headers)
        assert resp.status_code == 403


def test_two_identical_requests_racing_make_one_report(app, factory, db):
    """Two threads, two sessions, two connections: the unique constraint settles the race."""
    worker = factory.actor("grid_worker")
    body = report_body([upload(app.test_client(), worker)])
    barrier = threading.Barrier(2)
    results: list[tuple[int, int]] = []

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/reports", json=body, headers=worker.headers)
        results.append((resp.status_code, resp.json.get("id")))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in results) == [200, 201]
    assert len({report_id for _, report_id in results}) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1


# --- reading -----------------------------------------------------------------------------


@pytest.fixture
def two_grids(client, factory):
    """A report in G1 (garbage) and one in G2 (drain), by workers of each grid."""
    w1 = factory.actor("grid_worker", grids=("G1",))
    w2 = factory.actor("grid_worker", grids=("G2",))
    r1 = create(client, w1)
    r2 = create(client, w2, point=G2_POINT, category="drain")
    return {"w1": w1, "w2": w2, "r1": r1, "r2": r2}


def ids(resp) -> list[int]:
    """The report ids of a list answer."""
    assert resp.status_code == 200, resp.json
    return [item["id"] for item in resp.json["items"]]


def test_workers_see_their_grids_and_the_secretary_the_community(client, factory, two_grids):
    r1, r2 = two_grids["r1"]["id"], two_grids["r2"]["id"]
    assert ids(client.get("/api/v1/reports", headers=two_grids["w1"].headers)) == [r1]
    assert ids(client.get("/api/v1/reports", headers=two_grids["w2"].headers)) == [r2]
    for role in ("secretary", "dispatcher", "admin"):
        actor = factory.actor(role)
        assert ids(client.get("/api/v1/reports", headers=actor.headers)) == [r2, r1]
    head = factory.actor("building_head", grids=("G2",))
    assert ids(client.get("/api/v1/reports", headers=head.headers)) == [r2]


def test_report_outside_scope_is_404(client, two_grids):
    resp = client.get(f"/api/v1/reports/{two_grids['r2']['id']}",
                      headers=two_grids["w1"].headers)
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_department_sees_only_cases_dispatched_to_it(client, factory, db, two_grids):
    water = factory.actor("department", department="WATER")
    assert ids(client.get("/api/v1/reports", headers=water.headers)) == []
    report = db.session.get(Report, two_grids["r1"]["id"])
    report.department_id = db.session.scalar(select(Department.id).where(
        Department.code == "WATER"))
    report.status = "dispatched"
    db.session.commit()
    assert ids(client.get("/api/v1/reports", headers=water.headers)) == [report.id]
    urban = factory.actor("department", department="URBAN")
    assert ids(client.get("/api/v1/reports", headers=urban.headers)) == []


def test_filters_by_grid_category_status_bbox_and_time(client, factory, db, two_grids):
    chief = factory.actor("dispatcher")
    r1, r2 = two_grids["r1"]["id"], two_grids["r2"]["id"]

    def query(**params: str) -> list[int]:
        return ids(client.get("/api/v1/reports", query_string=params, headers=chief.headers))

    assert query(grid="G1") == [r1]
    assert query(category="drain") == [r2]
    assert query(category="drain,garbage") == [r2, r1]
    db.session.get(Report, r2).status = "accepted"
    db.session.commit()
    assert query(status="accepted") == [r2]
    assert query(status="reported,accepted") == [r2, r1]
    assert query(bbox="28.800,113.070,28.804,113.078") == [r1]
    created = db.session.get(Report, r1).created_at
    assert query(since=(created + timedelta(days=1)).isoformat()) == []
    assert query(until=(created + timedelta(days=1)).isoformat()) == [r2, r1]


@pytest.mark.parametrize("params,field", [
    ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "28.9,113,28.8,114"}, "bbox"),
    ({"status": "lost"}, "status"), ({"since": "2026-11-20T00:00:00"}, "since"),
    ({"limit": "0"}, "limit"),
])
def test_bad_filters_are_422(client, factory, params, field):
    chief = factory.actor("dispatcher")
    resp = client.get("/api/v1/reports", query_string=params, headers=chief.headers)
    assert resp.status_code == 422 and field in resp.json["errors"]


def test_cursor_pages_through_every_report_once(client, factory):
    worker = factory.actor("grid_worker")
    made = [create(client, worker, category=c)["id"] for c in
            ("garbage", "drain", "street_light", "road_damage", "other")]
    seen, cursor = [], None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        resp = client.get("/api/v1/reports", query_string=params, headers=worker.headers)
        seen += ids(resp)
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)


def test_geojson_is_a_feature_collection_without_personal_data(client, factory, two_grids):
    secretary = factory.actor("secretary")
    resp = client.get("/api/v1/reports.geojson", query_string={"grid": "G1"},
                      headers=secretary.headers)
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    data = resp.json
    assert data["type"] == "FeatureCollection"
    [feature] = data["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [
        pytest.approx(G1_POINT[1]), pytest.approx(G1_POINT[0])]}
    assert set(feature["properties"]) == {"id", "category", "status", "flags", "created_at"}
    assert "北岸" not in resp.get_data(as_text=True)


def test_a_duplicate_in_another_grid_is_flagged_without_naming_it(client, factory):
    """The reporter learns a similar report lies nearby, not which report of another grid
    it is; whoever may read both (the command centre) sees the link."""
    g1_side = (28.802, 113.07795)  # G1 ends at 113.078 E: the two points are ~10 m apart
    g2_side = (28.802, 113.07805)
    neighbour = factory.actor("grid_worker", grids=("G2",))
    first = create(client, neighbour, point=g2_side)
    worker = factory.actor("grid_worker", grids=("G1",))
    second = create(client, worker, point=g1_side)
    assert "possible_duplicate" in second["flags"]
    assert second["possible_duplicate_of"] is None
    assert "report_id" not in second["flag_detail"]["possible_duplicate"]
    assert second["flag_detail"]["possible_duplicate"]["distance_m"] < 20
    mine = client.get(f"/api/v1/reports/{second['id']}", headers=worker.headers).json
    assert mine["possible_duplicate_of"] is None
    dispatcher = factory.actor("dispatcher")
    seen = client.get(f"/api/v1/reports/{second['id']}", headers=dispatcher.headers).json
    assert seen["possible_duplicate_of"] == first["id"]
    assert seen["flag_detail"]["possible_duplicate"]["report_id"] == first["id"]
