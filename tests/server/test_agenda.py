"""The visit policy (intervals, due and overdue) and the worker's agenda built on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.errors import UnprocessableError
from server.extensions import db
from server.models import Community, Household, YellowRibbonRequest
from server.models.types import utcnow
from server.services.visit_policy import (
    DEFAULT_INTERVALS,
    apply_schedule,
    interval_for,
    intervals_for,
    schedule,
    set_visit_policy,
)
from tests.server.visit_support import add_household, point_at

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("tags", "days"), [
    ((), 90), (("veteran",), 30), (("elderly",), 14), (("low_income", "veteran"), 14),
    (("disabled", "elderly_alone"), 7), (("seriously_ill",), 7),
    (("yellow_ribbon", "elderly_alone"), 3), (("left_behind_child",), 14),
])
def test_the_most_demanding_tag_sets_the_interval(tags, days):
    assert interval_for(tags, DEFAULT_INTERVALS) == days


def test_due_in_the_last_quarter_and_overdue_after_the_interval():
    plan = schedule(tags=["elderly_alone"], intervals=DEFAULT_INTERVALS, created_at=T0,
                    last_met_at=T0, ribbon_raised_at=None)
    assert plan.due_from_at == T0 + timedelta(days=5, hours=6)
    assert plan.next_due_at == T0 + timedelta(days=7)
    assert plan.priority is True
    ordinary = schedule(tags=[], intervals=DEFAULT_INTERVALS, created_at=T0, last_met_at=T0,
                        ribbon_raised_at=None)
    assert ordinary.priority is False and ordinary.next_due_at == T0 + timedelta(days=90)


def test_a_household_never_met_is_overdue_from_registration():
    plan = schedule(tags=[], intervals=DEFAULT_INTERVALS, created_at=T0, last_met_at=None,
                    ribbon_raised_at=None)
    assert plan.due_from_at == plan.next_due_at == T0


def test_an_open_ribbon_makes_the_household_due_at_once_and_overdue_in_3_days():
    raised = T0 + timedelta(days=1)
    plan = schedule(tags=["yellow_ribbon"], intervals=DEFAULT_INTERVALS, created_at=T0,
                    last_met_at=T0 + timedelta(hours=12), ribbon_raised_at=raised)
    assert plan.due_from_at == raised
    assert plan.next_due_at == raised + timedelta(days=3)


def test_a_community_overrides_intervals_and_households_are_rescheduled(factory):
    home = add_household(factory, "G1", tags=("elderly",), last_met_at=utcnow())
    community = db.session.get(Community, home.community_id)
    assert set_visit_policy(db.session, community, {"elderly": 30, "default": 60}) == 1
    assert intervals_for(community)["elderly"] == 30
    db.session.refresh(home)
    assert home.visit_interval_days == 30
    with pytest.raises(UnprocessableError) as caught:
        set_visit_policy(db.session, community, {"rich": 3, "elderly": 0})
    assert set(caught.value.extra["errors"]) == {"rich", "elderly"}


@pytest.fixture
def worker(factory):
    return factory.actor("grid_worker", grids=("G1",))


def agenda(client, actor, query=""):
    resp = client.get(f"/api/v1/me/agenda{query}", headers=actor.headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_yellow_ribbon_household_comes_before_an_ordinary_overdue_one(client, factory, worker):
    now = utcnow()
    ordinary = add_household(factory, "G1", door="101", last_met_at=now - timedelta(days=300))
    ribbon = add_household(factory, "G1", door="102", last_met_at=now - timedelta(days=1))
    head = factory.actor("building_head", grids=("G1",))
    client.post(f"/api/v1/households/{ribbon.id}/yellow-ribbon", headers=head.headers, json={})
    items = agenda(client, worker)["items"]
    assert [i["household"]["id"] for i in items] == [ribbon.id, ordinary.id]
    assert items[0]["status"] == "due" and "yellow_ribbon_open" in items[0]["reasons"]
    # Once overdue, the ribbon still leads although the other is 210 days overdue.
    request = db.session.scalar(select(YellowRibbonRequest))
    request.raised_at = now - timedelta(days=4)
    apply_schedule(db.session, db.session.get(Household, ribbon.id))
    db.session.commit()
    later = agenda(client, worker)
    assert [i["household"]["id"] for i in later["items"]] == [ribbon.id, ordinary.id]
    assert later["items"][0]["days_overdue"] == 1
    assert (later["overdue"], later["due"]) == (2, 0)


def test_overdue_first_then_the_vulnerable_then_the_most_overdue(client, factory, worker):
    now = utcnow()
    alone = add_household(factory, "G1", door="101", tags=("elderly_alone",),
                          last_met_at=now - timedelta(days=9))
    veteran = add_household(factory, "G1", door="102", tags=("veteran",),
                            last_met_at=now - timedelta(days=40))
    long_ago = add_household(factory, "G1", door="103", last_met_at=now - timedelta(days=200))
    lately = add_household(factory, "G1", door="104", last_met_at=now - timedelta(days=100))
    due_only = add_household(factory, "G1", door="105", tags=("disabled",),
                             last_met_at=now - timedelta(days=12))
    add_household(factory, "G1", door="106", last_met_at=now - timedelta(days=3))  # fine
    add_household(factory, "G2", door="107")  # not my grid
    body = agenda(client, worker)
    assert [i["household"]["id"] for i in body["items"]] == [
        alone.id, veteran.id, long_ago.id, lately.id, due_only.id]
    first = body["items"][0]
    assert (first["days_overdue"], first["days_since_last_met"]) == (2, 9)
    assert first["reasons"] == ["overdue", "tag:elderly_alone"]
    assert body["items"][-1]["days_overdue"] == -2  # overdue in 2 days (less a moment)
    assert (body["overdue"], body["due"]) == (4, 1)


def test_among_equals_the_nearest_comes_first(client, factory, worker):
    building = factory.building("G1")
    origin = (building.lat, building.lon)
    created = utcnow() - timedelta(days=10)
    far = add_household(factory, "G1", door="101", created_at=created,
                        point=point_at(origin, 300))
    near = add_household(factory, "G1", door="102", created_at=created,
                         point=point_at(origin, 30))
    body = agenda(client, worker, f"?lat={origin[0]}&lon={origin[1]}")
    assert [i["household"]["id"] for i in body["items"]] == [near.id, far.id]
    assert body["items"][0]["distance_m"] == pytest.approx(30, abs=0.5)
    assert body["items"][0]["reasons"] == ["overdue", "never_visited"]
    assert body["items"][0]["days_since_last_visit"] is None


def test_agenda_limit_and_arguments(client, factory, worker):
    for door in range(101, 106):
        add_household(factory, "G1", door=str(door))
    assert len(agenda(client, worker, "?limit=2")["items"]) == 2
    resp = client.get("/api/v1/me/agenda?lat=28.8", headers=worker.headers)
    assert resp.status_code == 422


@pytest.mark.parametrize("role", ["admin", "dispatcher", "department", "supervisor",
                                  "building_head"])
def test_only_workers_and_secretaries_have_an_agenda(client, factory, role):
    actor = factory.actor(role)
    assert client.get("/api/v1/me/agenda", headers=actor.headers).status_code == 403


def test_the_secretary_agenda_spans_the_community(client, factory):
    a = add_household(factory, "G1", door="101", tags=("elderly_alone",))
    b = add_household(factory, "G2", door="102")
    secretary = factory.actor("secretary")
    assert [i["household"]["id"] for i in agenda(client, secretary)["items"]] == [a.id, b.id]
