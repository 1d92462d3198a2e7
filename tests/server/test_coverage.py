"""Coverage per grid and per worker against a fixture computed by hand, and its scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.extensions import db
from server.models import Visit
from server.models.types import utcnow
from tests.server.visit_support import add_household, new_uuid

BJ = ZoneInfo("Asia/Shanghai")
MARCH = "from=2026-03-01&to=2026-04-01"


def bj(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BJ)


def add_visit(household, worker, when, outcome="met", off_site=False):
    db.session.add(Visit(
        client_uuid=new_uuid(), body_sha256="0" * 64, household_id=household.id,
        worker_id=worker.id, grid_id=household.grid_id, visited_at=when, lat=household.lat,
        lon=household.lon, distance_m=400.0 if off_site else 5.0, outcome=outcome,
        flags=["off_site"] if off_site else [], off_site=off_site))
    db.session.commit()


@pytest.fixture
def world(factory):
    """Hand-counted March 2026 (Beijing days).

    G1: h1 elderly_alone (never met: overdue), h2, h3 low_income (met yesterday), h4.
    G2: h5 disabled (never met: overdue), h6.
    w1 (G1): h1 met twice, h2 not_home off-site, h3 met off-site; h4 on 1 April and h2 on
    28 February fall outside. w2 (G2): h5 met, h6 refused, h6 not_home at 23:30 on 31 March.
    The secretary: h6 met, off-site.
    """
    h1 = add_household(factory, "G1", door="101", tags=("elderly_alone",))
    h2 = add_household(factory, "G1", door="102")
    h3 = add_household(factory, "G1", door="103", tags=("low_income",),
                       last_met_at=utcnow() - timedelta(days=1))
    h4 = add_household(factory, "G1", door="104")
    h5 = add_household(factory, "G2", door="105", tags=("disabled",))
    h6 = add_household(factory, "G2", door="106")
    w1 = factory.actor("grid_worker", grids=("G1",))
    w2 = factory.actor("grid_worker", grids=("G2",))
    secretary = factory.actor("secretary")
    factory.actor("supervisor", grids=("G1",))  # has grids, but is no worker: not listed
    add_visit(h1, w1, bj(3))
    add_visit(h1, w1, bj(20))
    add_visit(h2, w1, bj(5), "not_home", off_site=True)
    add_visit(h3, w1, bj(6), off_site=True)
    add_visit(h4, w1, bj(1, 0, 10, month=4))
    add_visit(h2, w1, bj(28, 23, 50, month=2))
    add_visit(h5, w2, bj(7))
    add_visit(h6, w2, bj(8), "refused")
    add_visit(h6, w2, bj(31, 23, 30), "not_home")
    add_visit(h6, secretary, bj(9), off_site=True)
    return {"w1": w1, "w2": w2, "secretary": secretary}


def coverage(client, actor, query=MARCH):
    resp = client.get(f"/api/v1/stats/coverage?{query}", headers=actor.headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def counts(row):
    keys = ("households", "households_visited", "coverage_pct", "visits", "off_site_visits",
            "off_site_share", "overdue_priority")
    return tuple(row[k] for k in keys)


def test_coverage_matches_the_hand_computed_fixture(client, world):
    body = coverage(client, world["secretary"])
    assert body["from"] == "2026-02-28T16:00:00+00:00"
    assert body["to"] == "2026-03-31T16:00:00+00:00"
    grids = {row["grid"]: counts(row) for row in body["grids"]}
    assert grids == {"G1": (4, 2, 50.0, 4, 2, 0.5, 1),
                     "G2": (2, 2, 100.0, 4, 1, 0.25, 1)}
    assert counts(body["total"]) == (6, 4, 66.7, 8, 3, 0.375, 2)
    workers = {row["username"]: counts(row) for row in body["workers"]}
    assert workers == {
        world["w1"].user.username: (4, 2, 50.0, 4, 2, 0.5, 1),
        world["w2"].user.username: (2, 1, 50.0, 3, 0, 0.0, 1),
        world["secretary"].user.username: (0, 1, None, 1, 1, 1.0, 0),
    }


def test_a_worker_sees_the_coverage_of_their_own_grids(client, world):
    body = coverage(client, world["w1"])
    assert [row["grid"] for row in body["grids"]] == ["G1"]
    assert [row["username"] for row in body["workers"]] == [world["w1"].user.username]
    resp = client.get(f"/api/v1/stats/coverage?grid=G2&{MARCH}", headers=world["w1"].headers)
    assert resp.status_code == 403


def test_an_admin_sees_every_grid_and_may_narrow_to_one(client, world, factory):
    admin = factory.actor("admin")
    assert [r["grid"] for r in coverage(client, admin)["grids"]] == ["G1", "G2"]
    assert [r["grid"] for r in coverage(client, admin, f"grid=G2&{MARCH}")["grids"]] == ["G2"]
    assert counts(coverage(client, admin, f"community=C1&{MARCH}")["total"])[0] == 6
    missing = client.get("/api/v1/stats/coverage?community=NOPE", headers=admin.headers)
    assert missing.status_code == 404


def test_the_default_window_is_the_last_30_days(client, world, factory):
    recent = add_household(factory, "G1", door="199")
    add_visit(recent, world["w1"].user, utcnow() - timedelta(days=2))
    body = coverage(client, world["secretary"], "")
    assert counts(body["total"])[3] == 1
    assert (datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"])
            == timedelta(days=30))


@pytest.mark.parametrize("query", ["from=2026-04-01&to=2026-03-01", "grid=G1&community=C1",
                                   "from=2026-13-01", "from=2026-03-01T10:00:00"])
def test_bad_coverage_arguments_answer_422(client, world, query):
    resp = client.get(f"/api/v1/stats/coverage?{query}", headers=world["secretary"].headers)
    assert resp.status_code == 422


@pytest.mark.parametrize("role", ["dispatcher", "department", "building_head"])
def test_roles_without_coverage_are_refused(client, factory, role):
    actor = factory.actor(role)
    assert client.get("/api/v1/stats/coverage", headers=actor.headers).status_code == 403
