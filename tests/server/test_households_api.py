"""The household registry: creation, replay safety, scope, filters, updates, yellow ribbons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.models import AuditLog, Household, YellowRibbonRequest
from server.models.types import utcnow
from tests.server.visit_support import add_household, id_number, new_uuid


@pytest.fixture
def worker(factory):
    return factory.actor("grid_worker", grids=("G1",))


def new_body(factory, **extra):
    return {"building_id": factory.building("G1").id, "unit": "2", "door": "301",
            "head_name": "张三", "phone": "13812345678", "id_number": id_number(7),
            "members": 3, "tags": ["elderly_alone"], **extra}


def test_worker_registers_a_household_in_a_building_of_their_grid(client, factory, worker):
    resp = client.post("/api/v1/households", json=new_body(factory), headers=worker.headers)
    assert resp.status_code == 201, resp.json
    building = factory.building("G1")
    assert resp.json["code"] == "BG1-2-301"
    assert resp.json["grid"] == "G1"
    assert resp.json["location"] == {"lat": building.lat, "lon": building.lon}
    assert resp.json["phone"] == "13812345678" and resp.json["masked"] is False
    assert resp.json["visit_interval_days"] == 7
    assert resp.json["status"] == "overdue"  # never visited yet


def test_household_made_offline_is_replay_safe(client, factory, worker):
    body = new_body(factory, client_uuid=new_uuid())
    first = client.post("/api/v1/households", json=body, headers=worker.headers)
    again = client.post("/api/v1/households", json=body, headers=worker.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    other = client.post("/api/v1/households", json={**body, "head_name": "李四"},
                        headers=worker.headers)
    assert other.status_code == 409
    assert db.session.scalar(select(func.count(Household.id))) == 1


def test_household_outside_my_grids_is_refused(client, factory, worker):
    body = new_body(factory, building_id=factory.building("G2").id)
    assert client.post("/api/v1/households", json=body,
                       headers=worker.headers).status_code == 403


def test_household_with_its_own_point_takes_the_grid_of_the_point(client, factory):
    secretary = factory.actor("secretary")
    body = {"door": "友谊路8号", "head_name": "王五",
            "location": {"lat": factory.G2_CENTER[0], "lon": factory.G2_CENTER[1]}}
    resp = client.post("/api/v1/households", json=body, headers=secretary.headers)
    assert resp.status_code == 201
    assert (resp.json["grid"], resp.json["building_id"], resp.json["code"]) == (
        "G2", None, "友谊路8号")
    outside = {**body, "door": "9号", "location": {"lat": 28.9, "lon": 113.2}}
    resp = client.post("/api/v1/households", json=outside, headers=secretary.headers)
    assert resp.status_code == 422
    assert resp.json["type"].endswith("outside_grid")


def test_household_code_is_unique_in_the_community(client, factory, worker):
    first = client.post("/api/v1/households", json=new_body(factory), headers=worker.headers)
    again = client.post("/api/v1/households", json=new_body(factory, head_name="另一户"),
                        headers=worker.headers)
    assert again.status_code == 409
    assert again.json["type"].endswith("household_code_taken")
    other = add_household(factory, "G1", door="999")
    renamed = client.patch(f"/api/v1/households/{other.id}", json={"code": first.json["code"]},
                           headers=worker.headers)
    assert renamed.status_code == 409


@pytest.mark.parametrize(("field", "value"), [
    ("phone", "138****5678"), ("id_number", "430681194501010010"), ("tags", ["rich"]),
    ("members", 0), ("door", ""),
])
def test_invalid_household_fields_answer_422(client, factory, worker, field, value):
    resp = client.post("/api/v1/households", json=new_body(factory, **{field: value}),
                       headers=worker.headers)
    assert resp.status_code == 422
    assert field in resp.json["errors"]


def test_household_list_is_scoped_to_my_grids_and_buildings(client, factory, worker):
    mine = add_household(factory, "G1", door="101")
    theirs = add_household(factory, "G2", door="102")
    head = factory.actor("building_head", grids=("G2",))
    secretary = factory.actor("secretary")
    for actor, expected in ((worker, [mine.id]), (head, [theirs.id]),
                            (secretary, [theirs.id, mine.id])):
        resp = client.get("/api/v1/households", headers=actor.headers)
        assert [h["id"] for h in resp.json["items"]] == expected


def test_household_list_filters_by_grid_building_tag_and_status(client, factory):
    now = utcnow()
    overdue = add_household(factory, "G1", door="101", tags=("elderly_alone",),
                            last_met_at=now - timedelta(days=8))
    due = add_household(factory, "G1", door="102", last_met_at=now - timedelta(days=80))
    fresh = add_household(factory, "G1", door="103", tags=("elderly",),
                          last_met_at=now - timedelta(days=1))
    other = add_household(factory, "G2", door="104", tags=("elderly",))
    secretary = factory.actor("secretary")

    def ids(query):
        resp = client.get(f"/api/v1/households?{query}", headers=secretary.headers)
        assert resp.status_code == 200, resp.json
        return sorted(h["id"] for h in resp.json["items"])

    assert ids("grid=G1") == [overdue.id, due.id, fresh.id]
    assert ids(f"building_id={factory.building('G2').id}") == [other.id]
    assert ids("tag=elderly") == [fresh.id, other.id]
    assert ids("tag=elderly&grid=G2") == [other.id]
    assert ids("status=overdue&grid=G1") == [overdue.id]
    assert ids("status=due") == [due.id]
    assert ids("status=due&status=overdue") == sorted([overdue.id, due.id, other.id])
    assert ids("status=ok") == [fresh.id]


def test_household_list_pages_with_a_cursor(client, factory):
    made = [add_household(factory, "G1", door=str(100 + i)).id for i in range(5)]
    secretary = factory.actor("secretary")
    first = client.get("/api/v1/households?limit=3", headers=secretary.headers).json
    second = client.get(f"/api/v1/households?limit=3&cursor={first['next_cursor']}",
                        headers=secretary.headers).json
    assert [h["id"] for h in first["items"] + second["items"]] == made[::-1]
    assert second["next_cursor"] is None


def test_changing_tags_reschedules_the_household(client, factory, worker):
    home = add_household(factory, "G1", last_met_at=utcnow() - timedelta(days=10))
    assert home.next_due_at > utcnow()
    resp = client.patch(f"/api/v1/households/{home.id}", json={"tags": ["elderly_alone"]},
                        headers=worker.headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["visit_interval_days"] == 7
    assert resp.json["status"] == "overdue"
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "household_update"))
    assert audit.detail == {"fields": ["tags"]}


def test_update_may_move_a_household_within_my_grids_only(client, factory, worker):
    home = add_household(factory, "G1")
    moved = client.patch(f"/api/v1/households/{home.id}", headers=worker.headers,
                         json={"building_id": factory.building("G2").id})
    assert moved.status_code == 403
    renamed = client.patch(f"/api/v1/households/{home.id}", headers=worker.headers,
                           json={"head_name": "新户主", "members": 4})
    assert (renamed.json["head_name"], renamed.json["members"]) == ("新户主", 4)


def test_building_head_raises_a_yellow_ribbon_once(client, factory):
    home = add_household(factory, "G1", last_met_at=utcnow() - timedelta(days=1))
    head = factory.actor("building_head", grids=("G1",))
    url = f"/api/v1/households/{home.id}/yellow-ribbon"
    first = client.post(url, json={"note": "家里老人生病"}, headers=head.headers)
    again = client.post(url, json={}, headers=head.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    db.session.refresh(home)
    assert "yellow_ribbon" in home.tags
    assert home.due_from_at <= utcnow() < home.next_due_at <= utcnow() + timedelta(days=3)
    stranger = factory.actor("building_head", grids=("G2",))
    assert client.post(url, json={}, headers=stranger.headers).status_code == 404
    admin = factory.actor("admin")
    assert client.post(url, json={}, headers=admin.headers).status_code == 403


def test_removing_the_ribbon_tag_closes_the_request(client, factory, worker):
    home = add_household(factory, "G1")
    client.patch(f"/api/v1/households/{home.id}", json={"tags": ["yellow_ribbon"]},
                 headers=worker.headers)
    ribbon = db.session.scalar(select(YellowRibbonRequest))
    assert ribbon is not None and ribbon.closed_at is None
    client.patch(f"/api/v1/households/{home.id}", json={"tags": []}, headers=worker.headers)
    db.session.refresh(ribbon)
    assert ribbon.closed_at is not None


def test_unknown_household_is_404(client, factory, worker):
    assert client.get("/api/v1/households/999", headers=worker.headers).status_code == 404


def test_a_code_taken_in_another_grid_does_not_say_which_household_holds_it(client, factory,
                                                                           worker):
    mine = client.post("/api/v1/households", json=new_body(factory), headers=worker.headers)
    neighbour = factory.actor("grid_worker", grids=("G2",))
    body = {"door": "1号", "head_name": "王五", "code": mine.json["code"],
            "location": {"lat": factory.G2_CENTER[0], "lon": factory.G2_CENTER[1]}}
    theirs = client.post("/api/v1/households", json=body, headers=neighbour.headers)
    assert theirs.status_code == 409
    assert theirs.json["type"].endswith("household_code_taken")
    assert "existing_id" not in theirs.json
    own_grid = client.post("/api/v1/households", json=new_body(factory, head_name="李四"),
                           headers=worker.headers)
    assert own_grid.json["existing_id"] == mine.json["id"]  # one's own grid: told which
