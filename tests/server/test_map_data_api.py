"""The map's data API: households clustered in SQL by zoom, grid coverage, visits and the
day's track, cases, workers and buildings, each scoped and masked as the role requires."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.models.types import utcnow
from server.services.map_data import cell_degrees
from tests.factories import Factory
from tests.web.world import WebWorld, build_world

BBOX = "28.795,113.065,28.810,113.090"  # both grids of C1
G2_ONLY = "28.795,113.0785,28.810,113.090"


@pytest.fixture
def world(client: FlaskClient, factory: Factory) -> WebWorld:
    """C1 with 14 households, 7 visits (one off site) and two cases."""
    return build_world(client, factory)


def _get(client: FlaskClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(path, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_zoomed_out_households_come_as_clusters_counted_in_sql(
        client: FlaskClient, world: WebWorld, app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "MAP_MAX_POINTS", 3)
    view = _get(client, world.secretary.headers, "/api/v1/map/households", bbox=BBOX, zoom=14)
    assert view["mode"] == "clusters" and view["points"] == []
    assert view["cell_deg"] == pytest.approx(cell_degrees(14, 64))
    clusters = view["clusters"]
    assert sum(c["count"] for c in clusters) == view["counts"]["total"] == 14
    for key in ("ok", "due", "overdue", "ribbon", "visited"):
        assert sum(c[key] for c in clusters) == view["counts"][key]
    assert view["counts"] == {"total": 14, "ok": 4, "due": 1, "overdue": 9, "ribbon": 1,
                              "visited": 6}
    assert all(c["ok"] + c["due"] + c["overdue"] == c["count"] for c in clusters)


def test_cluster_cells_shrink_as_the_map_zooms_in(client: FlaskClient, world: WebWorld,
                                                  app: Flask,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "MAP_MAX_POINTS", 3)
    far = _get(client, world.secretary.headers, "/api/v1/map/households", bbox=BBOX, zoom=9)
    near = _get(client, world.secretary.headers, "/api/v1/map/households", bbox=BBOX, zoom=16)
    assert [c["count"] for c in far["clusters"]] == [14]
    assert len(near["clusters"]) > 2
    assert near["cell_deg"] < far["cell_deg"] / 100


def test_zoomed_in_households_come_as_points_without_names_or_numbers(
        client: FlaskClient, world: WebWorld) -> None:
    view = _get(client, world.secretary.headers, "/api/v1/map/households", bbox=BBOX, zoom=17)
    assert view["mode"] == "points" and view["clusters"] == []
    assert len(view["points"]) == 14
    assert {key for p in view["points"] for key in p} == {
        "id", "lat", "lon", "status", "ribbon", "visited", "grid_id", "label"}
    text = json.dumps(view, ensure_ascii=False)
    assert "户主" not in text and "13812345678" not in text and "disabled" not in text


def test_points_carry_status_yellow_ribbon_and_visits_of_the_period(
        client: FlaskClient, world: WebWorld) -> None:
    week = (utcnow() - timedelta(days=7)).isoformat()
    view = _get(client, world.secretary.headers, "/api/v1/map/households", bbox=BBOX, zoom=18,
                **{"from": week})
    points = {p["id"]: p for p in view["points"]}
    g1 = world.g1_households
    assert points[g1[0]]["status"] == "ok" and points[g1[0]]["visited"] is True
    assert points[g1[1]]["ribbon"] is True
    assert points[g1[2]]["visited"] is False  # met 20 days ago: before this week
    assert points[g1[2]]["status"] == "overdue"  # disabled: every 14 days
    assert points[g1[7]]["status"] == "overdue" and points[g1[7]]["visited"] is False
    assert view["counts"]["visited"] == 4


def test_a_past_period_counts_the_visits_of_that_period(client: FlaskClient,
                                                       world: WebWorld) -> None:
    """A period ending before now is answered from the visits, not the last meeting."""
    now = utcnow()
    args = {"from": (now - timedelta(days=30)).isoformat(),
            "to": (now - timedelta(days=1)).isoformat()}
    view = _get(client, world.secretary.headers, "/api/v1/map/households", bbox=BBOX, zoom=18,
                **args)
    points = {p["id"]: p for p in view["points"]}
    g1, g2 = world.g1_households, world.g2_households
    assert points[g1[0]]["visited"] is False  # met only today
    assert points[g1[1]]["visited"] is True and points[g1[2]]["visited"] is True
    assert points[g2[1]]["visited"] is True  # ten days ago
    assert view["counts"]["visited"] == 3


def test_zoomed_out_visits_come_as_counts_only(client: FlaskClient, world: WebWorld) -> None:
    view = _get(client, world.secretary.headers, "/api/v1/map/visits", bbox=BBOX, limit=0)
    assert view["items"] == [] and view["total"] == 7 and view["off_site"] == 1


def test_grid_worker_sees_only_the_households_of_their_grid(client: FlaskClient,
                                                            world: WebWorld) -> None:
    view = _get(client, world.worker1.headers, "/api/v1/map/households", bbox=BBOX, zoom=17)
    assert view["counts"]["total"] == 8
    assert {p["id"] for p in view["points"]} == set(world.g1_households)
    outside = _get(client, world.worker1.headers, "/api/v1/map/households", bbox=G2_ONLY,
                   zoom=17)
    assert outside["counts"]["total"] == 0 and outside["points"] == []


def test_a_department_may_not_read_the_household_layer(client: FlaskClient,
                                                       world: WebWorld) -> None:
    response = client.get("/api/v1/map/households", headers=world.department.headers,
                          query_string={"bbox": BBOX, "zoom": 15})
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("bbox", ["28.81,113.0,28.80,113.1", "1,2,3", "a,b,c,d",
                                  "28,200,29,201", "nan,113,29,114"])
def test_a_bad_bbox_is_422_with_the_field_named(client: FlaskClient, world: WebWorld,
                                                bbox: str) -> None:
    response = client.get("/api/v1/map/households", headers=world.secretary.headers,
                          query_string={"bbox": bbox, "zoom": 15})
    assert response.status_code == 422
    assert "bbox" in response.get_json()["errors"]


def test_only_households_inside_the_box_are_counted(client: FlaskClient,
                                                    world: WebWorld) -> None:
    view = _get(client, world.secretary.headers, "/api/v1/map/households", bbox=G2_ONLY,
                zoom=17)
    assert {p["id"] for p in view["points"]} == set(world.g2_households)


def test_grid_layer_carries_the_coverage_of_the_period(client: FlaskClient,
                                                       world: WebWorld) -> None:
    layer = _get(client, world.secretary.headers, "/api/v1/map/grids")
    stats = _get(client, world.secretary.headers, "/api/v1/stats/coverage")
    by_code = {f["properties"]["code"]: f["properties"] for f in layer["features"]}
    for row in stats["grids"]:
        props = by_code[row["grid"]]
        assert props["households"] == row["households"]
        assert props["visited"] == row["households_visited"]
        assert props["coverage_pct"] == row["coverage_pct"]
    assert by_code["G1"]["coverage"] == 0.5 and by_code["G1"]["off_site_visits"] == 1
    assert layer["features"][0]["geometry"]["type"] == "Polygon"
    mine = _get(client, world.worker2.headers, "/api/v1/map/grids")
    assert [f["properties"]["code"] for f in mine["features"]] == ["G2"]


def test_grid_layer_in_a_box_holds_the_grids_overlapping_it_with_the_same_figures(
        client: FlaskClient, world: WebWorld) -> None:
    headers = world.secretary.headers
    every = _get(client, headers, "/api/v1/map/grids")
    by_code = {f["properties"]["code"]: f for f in every["features"]}
    east = _get(client, headers, "/api/v1/map/grids", bbox=G2_ONLY)
    assert [f["properties"]["code"] for f in east["features"]] == ["G2"]
    assert east["features"][0] == by_code["G2"]  # the same coverage as without the box
    both = _get(client, headers, "/api/v1/map/grids", bbox=BBOX)
    assert both == every
    edge = _get(client, headers, "/api/v1/map/grids", bbox="28.79,113.0,28.80,113.07")
    assert [f["properties"]["code"] for f in edge["features"]] == ["G1"]  # corners touch
    away = _get(client, headers, "/api/v1/map/grids", bbox="28.70,113.0,28.75,113.05")
    assert away["features"] == []
    mine = _get(client, world.worker2.headers, "/api/v1/map/grids", bbox=BBOX)
    assert [f["properties"]["code"] for f in mine["features"]] == ["G2"]  # still scoped
    wrong = client.get("/api/v1/map/grids", headers=headers,
                       query_string={"bbox": "28.81,113.06,28.79,113.10"})
    assert wrong.status_code == 422
    assert wrong.headers["Content-Type"].startswith("application/problem+json")


def test_visits_in_view_filter_by_worker_and_outcome_and_count_off_site(
        client: FlaskClient, world: WebWorld) -> None:
    headers = world.secretary.headers
    grids_only = "28.799,113.065,28.8045,113.090"
    every = _get(client, headers, "/api/v1/map/visits", bbox=grids_only)
    assert every["total"] == 6  # the off-site visit stood 400 m north, outside this box
    wide = _get(client, headers, "/api/v1/map/visits", bbox="28.79,113.06,28.82,113.10")
    assert wide["total"] == 7 and wide["off_site"] == 1
    assert wide["by_outcome"] == {"met": 6, "not_home": 1}
    times = [v["visited_at"] for v in wide["items"]]
    assert times == sorted(times, reverse=True)
    second = _get(client, headers, "/api/v1/map/visits", worker=world.worker2.id)
    assert second["total"] == 2 and {v["worker"] for v in second["items"]} == {"吴网格员"}
    away = _get(client, headers, "/api/v1/map/visits", outcome="not_home")
    assert away["total"] == 1
    week = _get(client, headers, "/api/v1/map/visits",
                **{"from": (utcnow() - timedelta(days=7)).isoformat()})
    assert week["total"] == 5
    few = _get(client, headers, "/api/v1/map/visits", limit=2)
    assert few["truncated"] is True and len(few["items"]) == 2 and few["total"] == 7


def test_a_workers_day_comes_in_time_order(client: FlaskClient, world: WebWorld) -> None:
    track = _get(client, world.secretary.headers, "/api/v1/map/visits",
                 worker=world.worker1.id, day=world.today)
    assert track["mode"] == "track" and track["total"] == 3
    times = [v["visited_at"] for v in track["items"]]
    assert times == sorted(times)
    assert [v["off_site"] for v in track["items"]] == [False, False, True]
    own = _get(client, world.worker1.headers, "/api/v1/map/visits", day=world.today)
    assert [v["id"] for v in own["items"]] == [v["id"] for v in track["items"]]


def test_a_day_without_a_worker_is_422_for_the_secretary(client: FlaskClient,
                                                         world: WebWorld) -> None:
    response = client.get("/api/v1/map/visits", headers=world.secretary.headers,
                          query_string={"day": world.today})
    assert response.status_code == 422
    assert "worker" in response.get_json()["errors"]


def test_a_grid_worker_sees_no_track_of_another_grid(client: FlaskClient,
                                                     world: WebWorld) -> None:
    track = _get(client, world.worker1.headers, "/api/v1/map/visits",
                 worker=world.worker2.id, day=world.today)
    assert track["items"] == []


def test_cases_layer_marks_overdue_cases_and_filters_open_ones(client: FlaskClient,
                                                               world: WebWorld) -> None:
    every = _get(client, world.secretary.headers, "/api/v1/map/cases", bbox=BBOX, open="true")
    assert {f["id"] for f in every["features"]} == {world.handled_case, world.overdue_case}
    late = _get(client, world.secretary.headers, "/api/v1/map/cases", overdue="true")
    assert [f["id"] for f in late["features"]] == [world.overdue_case]
    props = late["features"][0]["properties"]
    assert props["overdue"] is True and props["category_zh"] == "垃圾"
    assert props["department"] == "水务局"
    mine = _get(client, world.worker1.headers, "/api/v1/map/cases")
    assert [f["id"] for f in mine["features"]] == [world.handled_case]


def test_workers_offered_are_those_of_my_grids(client: FlaskClient, world: WebWorld) -> None:
    everyone = _get(client, world.secretary.headers, "/api/v1/map/workers")["items"]
    assert {w["name"]: w["grids"] for w in everyone} == {"周网格员": ["G1"], "吴网格员": ["G2"]}
    mine = _get(client, world.worker1.headers, "/api/v1/map/workers")["items"]
    assert [w["id"] for w in mine] == [world.worker1.id]


def test_buildings_in_view_are_scoped_to_my_grids(client: FlaskClient,
                                                  world: WebWorld) -> None:
    every = _get(client, world.secretary.headers, "/api/v1/map/buildings", bbox=BBOX)["items"]
    assert sorted(b["code"] for b in every) == ["BG1", "BG2"]
    mine = _get(client, world.worker2.headers, "/api/v1/map/buildings", bbox=BBOX)["items"]
    assert [b["code"] for b in mine] == ["BG2"]
