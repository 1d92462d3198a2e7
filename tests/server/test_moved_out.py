"""A family that moved away (搬离): off the agenda, the coverage and the overdue lists,
kept on record, and back as soon as a visit meets a family there or someone clears it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.extensions import db
from server.models import Household
from server.models.types import utcnow
from tests.server.visit_support import add_household, visit_body

BBOX = "28.79,113.06,28.81,113.09"


@pytest.fixture
def worker(factory):
    return factory.actor("grid_worker", grids=("G1",))


@pytest.fixture
def gone(factory):
    """A household nobody has met: overdue, on the agenda until a visit finds it empty."""
    return add_household(factory, "G1", door="101")


def visit(client, worker, household, **body):
    answer = client.post("/api/v1/visits", headers=worker.headers,
                         json=visit_body(household, **body))
    assert answer.status_code == 201, answer.json
    return answer.json


def agenda_ids(client, worker):
    items = client.get("/api/v1/me/agenda", headers=worker.headers).json["items"]
    return [i["household"]["id"] for i in items]


def coverage_households(client, actor):
    body = client.get("/api/v1/stats/coverage?grid=G1", headers=actor.headers).json
    return body["total"]["households"], [w["households"] for w in body["workers"]]


def test_a_moved_out_visit_takes_the_household_off_the_agenda_and_the_counts(
        client, worker, gone, factory):
    stays = add_household(factory, "G1", door="102")
    assert set(agenda_ids(client, worker)) == {gone.id, stays.id}
    assert coverage_households(client, worker) == (2, [2])

    visit(client, worker, gone, outcome="moved_out", visited_at=utcnow() - timedelta(hours=1))
    assert agenda_ids(client, worker) == [stays.id]
    assert coverage_households(client, worker) == (1, [1])  # the grid's and the worker's
    shown = client.get(f"/api/v1/households/{gone.id}", headers=worker.headers).json
    assert shown["status"] == "moved_out" and shown["moved_out_at"] is not None
    listed = client.get("/api/v1/households?status=moved_out", headers=worker.headers).json
    assert [h["id"] for h in listed["items"]] == [gone.id]
    overdue = client.get("/api/v1/households?status=overdue", headers=worker.headers).json
    assert [h["id"] for h in overdue["items"]] == [stays.id]
    points = client.get(f"/api/v1/map/households?bbox={BBOX}&zoom=18",
                        headers=worker.headers).json["points"]
    assert {p["id"]: p["status"] for p in points}[gone.id] == "moved_out"


def test_a_later_visit_that_meets_a_family_brings_it_back(client, worker, gone):
    visit(client, worker, gone, outcome="moved_out", visited_at=utcnow() - timedelta(days=3))
    # A met visit from before the move does not undo it (a late entry)...
    visit(client, worker, gone, outcome="met", visited_at=utcnow() - timedelta(days=4))
    db.session.expire_all()
    assert db.session.get(Household, gone.id).moved_out_at is not None
    # ...one after it does.
    visit(client, worker, gone, outcome="met", visited_at=utcnow() - timedelta(hours=1))
    db.session.expire_all()
    assert db.session.get(Household, gone.id).moved_out_at is None


def test_a_moved_out_visit_older_than_the_last_meeting_changes_nothing(
        client, worker, gone):
    visit(client, worker, gone, outcome="met", visited_at=utcnow() - timedelta(hours=1))
    visit(client, worker, gone, outcome="moved_out", visited_at=utcnow() - timedelta(days=2))
    db.session.expire_all()
    assert db.session.get(Household, gone.id).moved_out_at is None


def test_the_secretary_clears_or_sets_it_by_editing_the_household(client, factory, worker,
                                                                    gone):
    secretary = factory.actor("secretary")
    visit(client, worker, gone, outcome="moved_out", visited_at=utcnow() - timedelta(hours=1))
    url = f"/api/v1/households/{gone.id}"
    back = client.patch(url, headers=secretary.headers, json={"moved_out": False})
    assert back.status_code == 200 and back.json["status"] != "moved_out"
    assert gone.id in agenda_ids(client, worker)
    again = client.patch(url, headers=secretary.headers, json={"moved_out": True})
    assert again.status_code == 200 and again.json["status"] == "moved_out"
    assert gone.id not in agenda_ids(client, worker)
