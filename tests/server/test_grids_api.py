"""Grid import and point location, in all three coordinate systems."""

from __future__ import annotations

from server.geo import from_wgs84
from tests.factories import square

INSIDE_G1 = (28.8020, 113.0740)


def test_locate_finds_the_grid_in_wgs84_gcj02_and_bd09(client, factory):
    actor = factory.actor("grid_worker")
    for crs in ("wgs84", "gcj02", "bd09"):
        lat, lon = from_wgs84(*INSIDE_G1, crs)
        resp = client.get(f"/api/v1/grids/locate?lat={lat}&lon={lon}&crs={crs}",
                          headers=actor.headers)
        assert resp.status_code == 200, (crs, resp.json)
        assert resp.json["grid"]["code"] == "G1"
        assert abs(resp.json["lat"] - INSIDE_G1[0]) < 1e-5
        assert abs(resp.json["lon"] - INSIDE_G1[1]) < 1e-5


def test_gcj02_point_taken_as_wgs84_would_land_elsewhere(client, factory):
    """The shift matters: near a border, reading GCJ-02 as WGS-84 picks the wrong grid."""
    actor = factory.actor("grid_worker")
    near_border = (28.8035, 113.0760)  # 200 m west of the G1/G2 border; GCJ-02 shifts ~660 m
    lat, lon = from_wgs84(*near_border, "gcj02")
    right = client.get(f"/api/v1/grids/locate?lat={lat}&lon={lon}&crs=gcj02",
                       headers=actor.headers)
    wrong = client.get(f"/api/v1/grids/locate?lat={lat}&lon={lon}", headers=actor.headers)
    assert right.json["grid"]["code"] == "G1"
    assert wrong.json["grid"]["code"] == "G2"


def test_point_in_no_grid_is_a_404_problem(client, factory):
    actor = factory.actor("grid_worker")
    resp = client.get("/api/v1/grids/locate?lat=20.0&lon=118.0", headers=actor.headers)  # sea
    assert resp.status_code == 404
    assert resp.json["type"] == "/problems/outside_grid"


def test_import_creates_then_updates_without_duplicating(client, factory):
    admin = factory.actor("admin")
    collection = {"type": "FeatureCollection", "features": [
        square("G9", "九网格", 113.1, 28.9, 113.11, 28.91)]}
    first = client.post("/api/v1/grids/import?community=C1", json=collection,
                        headers=admin.headers)
    assert first.status_code == 200 and first.json["created"] == ["G9"]
    collection["features"][0]["properties"]["name"] = "第九网格"
    again = client.post("/api/v1/grids/import?community=C1", json=collection,
                        headers=admin.headers)
    assert again.json == {"created": [], "updated": ["G9"]}
    grids = client.get("/api/v1/grids", headers=admin.headers).json
    assert [g["name"] for g in grids if g["code"] == "G9"] == ["第九网格"]
    located = client.get("/api/v1/grids/locate?lat=28.905&lon=113.105", headers=admin.headers)
    assert located.json["grid"]["code"] == "G9"


def test_import_rejects_bad_geojson_with_the_reason(client, factory):
    admin = factory.actor("admin")
    bad = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "no code"},
         "geometry": {"type": "Point", "coordinates": [113.0, 28.0]}}]}
    resp = client.post("/api/v1/grids/import?community=C1", json=bad, headers=admin.headers)
    assert resp.status_code == 422
    assert resp.json["type"] == "/problems/invalid_geojson"
    assert "feature 0" in resp.json["detail"]


def test_only_admins_import_grids(client, factory):
    secretary = factory.actor("secretary")
    resp = client.post("/api/v1/grids/import?community=C1",
                       json={"type": "FeatureCollection", "features": []},
                       headers=secretary.headers)
    assert resp.status_code == 403


def test_grid_list_is_scoped_to_my_grids(client, factory):
    worker = factory.actor("grid_worker", grids=("G2",))
    secretary = factory.actor("secretary")
    assert [g["code"] for g in client.get("/api/v1/grids", headers=worker.headers).json] == ["G2"]
    codes = [g["code"] for g in client.get("/api/v1/grids", headers=secretary.headers).json]
    assert codes == ["G1", "G2"]


def test_grid_list_has_an_etag_and_answers_304(client, factory):
    worker = factory.actor("grid_worker")
    first = client.get("/api/v1/grids", headers=worker.headers)
    etag = first.headers["ETag"]
    again = client.get("/api/v1/grids", headers={**worker.headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
