"""Visits: proof of presence, clock checks, replay safety, dependencies, ribbons, needs."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.geo import from_wgs84
from server.models import Category, Household, Report, Visit, YellowRibbonRequest
from server.models.types import utcnow
from server.services.agenda import reasons_for
from tests.server.visit_support import (
    add_household,
    add_photo,
    new_uuid,
    point_at,
    visit_body,
)


@pytest.fixture
def worker(factory):
    return factory.actor("grid_worker", grids=("G1",))


@pytest.fixture
def home(factory):
    return add_household(factory, "G1", door="301")


@pytest.fixture
def categories(db):
    db.session.add_all([Category(code="drain", name_zh="下水道", name_en="Drains", sla_hours=24),
                        Category(code="other", name_zh="其他", name_en="Other", sla_hours=72)])
    db.session.commit()


def post(client, actor, body):
    return client.post("/api/v1/visits", json=body, headers=actor.headers)


def test_visit_at_the_door_is_not_off_site(client, worker, home):
    resp = post(client, worker, visit_body(home, at=point_at((home.lat, home.lon), 20)))
    assert resp.status_code == 201, resp.json
    assert resp.json["off_site"] is False
    assert resp.json["flags"] == []
    assert 19 < resp.json["distance_m"] < 21


def test_visit_400_m_from_its_household_is_flagged_off_site(client, worker, home):
    resp = post(client, worker, visit_body(home, at=point_at((home.lat, home.lon), 400, 0)))
    assert resp.status_code == 201
    assert resp.json["off_site"] is True
    assert "off_site" in resp.json["flags"]
    assert 399 < resp.json["distance_m"] < 401


@pytest.mark.parametrize(("metres", "accuracy", "off_site"), [
    (200, 80.0, False),    # 150 + 80 covers a poor fix
    (240, 5000.0, False),  # the allowance grows to 150 + 100 (the cap) at most...
    (260, 5000.0, True),   # ...so a claimed 5 km accuracy does not excuse 260 m
    (160, None, True),     # no accuracy reported: 150 m
])
def test_gps_accuracy_widens_the_allowance_up_to_a_cap(client, worker, home, metres, accuracy,
                                                       off_site):
    body = visit_body(home, at=point_at((home.lat, home.lon), metres))
    body["location"]["accuracy_m"] = accuracy
    assert post(client, worker, body).json["off_site"] is off_site


def test_gcj02_point_is_converted_before_measuring(client, worker, home):
    """A phone on AMap reports GCJ-02, some 500 m off WGS-84 here; at the door is at the door."""
    lat, lon = from_wgs84(home.lat, home.lon, "gcj02")
    body = visit_body(home, at=(lat, lon))
    body["location"]["crs"] = "gcj02"
    resp = post(client, worker, body)
    assert resp.json["off_site"] is False
    assert resp.json["location"]["crs"] == "gcj02"
    assert resp.json["location"]["lat"] == pytest.approx(home.lat, abs=1e-5)


def test_visit_in_the_future_beyond_the_clock_skew_is_refused(client, worker, home):
    late = post(client, worker, visit_body(home, visited_at=utcnow() + timedelta(minutes=30)))
    assert late.status_code == 422
    assert "visited_at" in late.json["errors"]
    skewed = post(client, worker, visit_body(home, visited_at=utcnow() + timedelta(minutes=5)))
    assert skewed.status_code == 201


def test_visit_logged_more_than_72_hours_later_is_flagged_late_entry(client, worker, home):
    old = post(client, worker, visit_body(home, visited_at=utcnow() - timedelta(hours=73)))
    recent = post(client, worker, visit_body(home, visited_at=utcnow() - timedelta(hours=71)))
    assert old.json["flags"] == ["late_entry"]
    assert recent.json["flags"] == []


def test_replayed_visit_answers_the_first_and_another_body_conflicts(client, worker, home):
    body = visit_body(home, notes="老人身体尚可")
    first, again = post(client, worker, body), post(client, worker, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    changed = post(client, worker, {**body, "notes": "另一份记录"})
    assert changed.status_code == 409
    assert db.session.scalar(select(func.count(Visit.id))) == 1


def test_visit_to_household_made_offline_waits_for_it_then_links(client, worker, factory):
    household_uuid = new_uuid()
    body = visit_body(None)
    body["household_client_uuid"] = household_uuid
    early = post(client, worker, body)
    assert early.status_code == 409
    assert early.json["type"].endswith("dependency_missing")
    assert early.json["missing"] == [{"kind": "household", "client_uuid": household_uuid}]
    made = client.post("/api/v1/households", headers=worker.headers, json={
        "client_uuid": household_uuid, "building_id": factory.building("G1").id,
        "unit": "3", "door": "502", "head_name": "新住户"})
    assert made.status_code == 201, made.json
    resp = post(client, worker, body)
    assert resp.status_code == 201
    assert resp.json["household_id"] == made.json["id"]


def test_photo_not_uploaded_yet_is_a_missing_dependency(client, worker, home):
    photo_id = new_uuid()
    body = visit_body(home, photo_ids=[photo_id])
    early = post(client, worker, body)
    assert early.status_code == 409
    assert early.json["missing"] == [{"kind": "photo", "client_uuid": photo_id}]
    add_photo(worker, photo_id)
    resp = post(client, worker, body)
    assert resp.status_code == 201
    assert resp.json["photo_ids"] == [photo_id]


def test_worker_may_not_visit_a_household_in_the_neighbour_grid(client, worker, factory):
    other = add_household(factory, "G2", door="201")
    resp = post(client, worker, visit_body(other))
    assert resp.status_code == 403
    assert db.session.scalar(select(func.count(Visit.id))) == 0


def test_meeting_the_family_updates_the_household_schedule(client, worker, home):
    before = home.next_due_at
    when = utcnow() - timedelta(hours=2)
    post(client, worker, visit_body(home, visited_at=when, outcome="not_home"))
    db.session.refresh(home)
    assert home.last_visit_at == when
    assert home.last_met_at is None and home.next_due_at == before
    post(client, worker, visit_body(home, visited_at=when))
    db.session.refresh(home)
    assert home.last_met_at == when
    assert home.next_due_at == when + timedelta(days=90)


def test_a_late_visit_does_not_move_the_last_visit_back(client, worker, home):
    recent = utcnow() - timedelta(hours=1)
    post(client, worker, visit_body(home, visited_at=recent))
    post(client, worker, visit_body(home, visited_at=recent - timedelta(days=5)))
    db.session.refresh(home)
    assert home.last_met_at == recent


def test_met_visit_closes_the_open_yellow_ribbon(client, worker, home, factory):
    head = factory.actor("building_head", grids=("G1",))
    raised = client.post(f"/api/v1/households/{home.id}/yellow-ribbon", headers=head.headers,
                         json={"note": "老人摔倒了"})
    assert raised.status_code == 201
    post(client, worker, visit_body(home, outcome="not_home", visited_at=utcnow()))
    assert db.session.get(YellowRibbonRequest, raised.json["id"]).closed_at is None
    earlier = post(client, worker, visit_body(home, visited_at=utcnow() - timedelta(hours=1)))
    assert earlier.status_code == 201  # met before the ribbon went up: it stays open
    assert db.session.get(YellowRibbonRequest, raised.json["id"]).closed_at is None
    # ...and still sets the schedule: the family stays due at once, whatever the visit.
    assert db.session.get(Household, home.id).due_from_at <= utcnow()
    met = post(client, worker, visit_body(home, visited_at=utcnow()))
    ribbon = db.session.get(YellowRibbonRequest, raised.json["id"])
    assert ribbon.closed_by_visit_id == met.json["id"]
    assert "yellow_ribbon" not in db.session.get(Household, home.id).tags


def test_need_becomes_a_report_linked_both_ways(client, worker, home, categories):
    photo = add_photo(worker)
    visit = post(client, worker, visit_body(home, photo_ids=[photo.id], needs=[
        {"category": "welfare", "text": "申请低保"},
        {"category": "drain", "text": "楼道下水道堵塞"}])).json
    url = f"/api/v1/visits/{visit['id']}/needs/1/report"
    first = client.post(url, headers=worker.headers, json={})
    again = client.post(url, headers=worker.headers, json={})
    assert (first.status_code, again.status_code) == (201, 200)
    report = db.session.get(Report, first.json["report_id"])
    assert again.json["report_id"] == report.id
    assert report.category_code == "drain" and "楼道下水道堵塞" in report.description
    assert [p.id for p in report.photos] == [photo.id]
    shown = client.get(f"/api/v1/visits/{visit['id']}", headers=worker.headers).json
    assert [n["report_id"] for n in shown["needs"]] == [None, report.id]
    found = client.get(f"/api/v1/visits?report_id={report.id}", headers=worker.headers).json
    assert [v["id"] for v in found["items"]] == [visit["id"]]


def test_need_outside_the_report_categories_needs_one_given(client, worker, home, categories):
    visit = post(client, worker, visit_body(home, photo_ids=[add_photo(worker).id], needs=[
        {"category": "welfare", "text": "申请低保"}])).json
    url = f"/api/v1/visits/{visit['id']}/needs/0/report"
    assert client.post(url, headers=worker.headers, json={}).status_code == 422
    resp = client.post(url, headers=worker.headers, json={"category": "other"})
    assert resp.status_code == 201
    assert db.session.get(Report, resp.json["report_id"]).category_code == "other"
    assert client.post(f"/api/v1/visits/{visit['id']}/needs/5/report",
                       headers=worker.headers, json={}).status_code == 404


def test_need_flagged_at_creation_becomes_a_report_once(client, worker, home, categories):
    body = visit_body(home, photo_ids=[add_photo(worker).id],
                      needs=[{"category": "drain", "text": "下水道", "create_report": True}])
    first = post(client, worker, body)
    again = post(client, worker, body)
    assert first.json["needs"][0]["report_id"] is not None
    assert again.json["needs"][0]["report_id"] == first.json["needs"][0]["report_id"]
    assert db.session.scalar(select(func.count(Report.id))) == 1
    bad = visit_body(home, needs=[{"category": "welfare", "text": "x", "create_report": True}])
    assert post(client, worker, bad).status_code == 422
    assert db.session.scalar(select(func.count(Visit.id))) == 1


def test_visits_are_read_within_my_geography(client, worker, home, factory):
    visit_id = post(client, worker, visit_body(home)).json["id"]
    neighbour = factory.actor("grid_worker", grids=("G2",))
    head_here = factory.actor("building_head", grids=("G1",))
    head_there = factory.actor("building_head", grids=("G2",))
    secretary = factory.actor("secretary")
    for actor, seen in ((worker, True), (neighbour, False), (head_here, True),
                        (head_there, False), (secretary, True)):
        listed = client.get("/api/v1/visits", headers=actor.headers).json["items"]
        assert ([v["id"] for v in listed] == [visit_id]) is seen
        one = client.get(f"/api/v1/visits/{visit_id}", headers=actor.headers)
        assert one.status_code == (200 if seen else 404)
    dispatcher = factory.actor("dispatcher")
    assert client.get("/api/v1/visits", headers=dispatcher.headers).status_code == 403


def test_visit_list_filters(client, worker, home, factory):
    other = add_household(factory, "G1", door="302")
    far = point_at((home.lat, home.lon), 500)
    a = post(client, worker, visit_body(home, at=far)).json["id"]
    b = post(client, worker, visit_body(other, outcome="not_home")).json["id"]

    def ids(query):
        resp = client.get(f"/api/v1/visits?{query}", headers=worker.headers)
        return [v["id"] for v in resp.json["items"]]

    assert ids(f"household_id={other.id}") == [b]
    assert ids("off_site=true") == [a]
    assert ids("outcome=not_home") == [b]
    assert ids("grid=G1") == [b, a]
    assert ids("from=2000-01-01&to=2001-01-01") == []


SHANGHAI = ZoneInfo("Asia/Shanghai")


def _day_start(day):
    """The start of ``day`` in the server's default time zone."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def test_a_promised_follow_up_makes_the_household_due_that_day_until_kept(client, worker, home):
    met = utcnow() - timedelta(hours=2)
    day = (met.astimezone(SHANGHAI) + timedelta(days=5)).date()
    assert post(client, worker, visit_body(home, visited_at=met,
                                           follow_up_on=day.isoformat())).status_code == 201
    db.session.refresh(home)
    promised = _day_start(day)
    assert home.follow_up_at == promised
    assert (home.due_from_at, home.next_due_at) == (promised, promised + timedelta(days=1))
    assert "follow_up" in reasons_for(home, promised + timedelta(hours=9))
    shown = client.get(f"/api/v1/households/{home.id}", headers=worker.headers).json
    assert shown["follow_up_at"] is not None

    # Meeting the family before the promised day does not keep the promise.
    post(client, worker, visit_body(home, visited_at=met + timedelta(hours=1)))
    db.session.refresh(home)
    assert home.follow_up_at == promised and home.next_due_at == promised + timedelta(days=1)


def test_a_visit_on_the_promised_day_keeps_the_promise(client, worker, home):
    met = utcnow() - timedelta(days=10)
    day = (met + timedelta(days=3)).astimezone(SHANGHAI).date()
    post(client, worker, visit_body(home, visited_at=met, follow_up_on=day.isoformat()))
    db.session.refresh(home)
    assert home.follow_up_at == _day_start(day)
    kept_at = _day_start(day) + timedelta(hours=10)
    post(client, worker, visit_body(home, visited_at=kept_at))
    db.session.refresh(home)
    assert home.follow_up_at is None
    assert home.next_due_at == kept_at + timedelta(days=home.visit_interval_days)


def test_a_late_entry_does_not_bring_back_a_promise_already_kept(client, worker, home):
    recent = utcnow() - timedelta(hours=1)
    post(client, worker, visit_body(home, visited_at=recent))
    old = recent - timedelta(days=6)
    day = (old + timedelta(days=2)).astimezone(SHANGHAI).date()
    assert post(client, worker, visit_body(home, visited_at=old,
                                           follow_up_on=day.isoformat())).status_code == 201
    db.session.refresh(home)
    assert home.follow_up_at is None


def test_a_follow_up_before_the_visit_is_refused(client, worker, home):
    met = utcnow() - timedelta(days=1)
    answer = post(client, worker, visit_body(
        home, visited_at=met, follow_up_on=(met - timedelta(days=3)).date().isoformat()))
    assert answer.status_code == 422 and "follow_up_on" in answer.json["errors"]


def test_another_grids_photo_cannot_be_attached_to_a_visit_nor_read_through_it(
        client, factory, worker, home):
    """Attaching grid G2's photo would have made it readable in G1 (and launderable into a
    report through a need): it answers as a photo not uploaded yet, like an unknown id."""
    neighbour = factory.actor("grid_worker", grids=("G2",))
    theirs, absent = add_photo(neighbour), new_uuid()
    answers = [post(client, worker, visit_body(home, photo_ids=[pid])) for pid in
               (theirs.id, absent)]
    assert [a.status_code for a in answers] == [409, 409]
    assert [a.json["type"] for a in answers] == ["/problems/dependency_missing"] * 2
    assert [a.json["missing"] for a in answers] == [
        [{"kind": "photo", "client_uuid": pid}] for pid in (theirs.id, absent)]
    assert db.session.scalar(select(func.count()).select_from(Visit)) == 0
    assert client.get(f"/api/v1/photos/{theirs.id}", headers=worker.headers).status_code == 404


def test_the_same_rule_holds_for_a_visit_in_a_sync_batch(client, factory, worker, home):
    neighbour = factory.actor("grid_worker", grids=("G2",))
    theirs = add_photo(neighbour)
    body = visit_body(home, photo_ids=[theirs.id])
    answer = client.post("/api/v1/sync/batch", headers=worker.headers, json={"records": [
        {"kind": "visit", "client_uuid": body["client_uuid"], "body": body}]})
    (result,) = answer.json["results"]
    assert result["status"] == 409
    assert result["problem"]["type"] == "/problems/dependency_missing"
    assert db.session.scalar(select(func.count()).select_from(Visit)) == 0
