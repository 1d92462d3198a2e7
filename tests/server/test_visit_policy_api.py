"""A community's visit policy over the API: its secretary changes it, the schedule follows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import AuditLog, Household
from server.models.types import utcnow
from server.services.auth import create_user, issue_token
from server.services.org import create_community
from tests.factories import PASSWORD
from tests.server.visit_support import add_household

URL = "/api/v1/communities/C1/visit-policy"


@pytest.fixture
def secretary(factory):
    return factory.actor("secretary")


@pytest.fixture
def alone(factory):
    """An elderly person living alone, met 5 days ago: inside the default 7-day interval."""
    return add_household(factory, "G1", door="101", tags=("elderly_alone",),
                         last_met_at=utcnow() - timedelta(days=5))


def test_the_secretary_shortens_an_interval_and_the_household_becomes_overdue(
        client, secretary, alone):
    shown = client.get(URL, headers=secretary.headers).json
    assert shown["overrides"] == {} and shown["intervals"]["elderly_alone"] == 7
    assert alone.next_due_at > utcnow()

    answer = client.put(URL, headers=secretary.headers,
                        json={"overrides": {"elderly_alone": 3, "default": 60}})
    assert answer.status_code == 200, answer.json
    assert answer.json["overrides"] == {"elderly_alone": 3, "default": 60}
    assert answer.json["intervals"]["elderly_alone"] == 3
    assert answer.json["intervals"]["disabled"] == 14  # untouched tags keep the default
    assert answer.json["rescheduled"] == 1
    db.session.expire_all()
    home = db.session.get(Household, alone.id)
    assert home.visit_interval_days == 3 and home.next_due_at < utcnow()
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "visit_policy_set"))
    assert entry is not None and entry.user_id == secretary.id

    assert client.put(URL, headers=secretary.headers, json={"overrides": {}}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Household, alone.id).visit_interval_days == 7


@pytest.mark.parametrize("overrides", [{"goldfish": 30}, {"elderly_alone": 0},
                                       {"default": "60"}, {"veteran": True}])
def test_a_bad_policy_is_refused_naming_the_tag_and_changes_nothing(
        client, secretary, alone, overrides):
    before = alone.next_due_at
    answer = client.put(URL, headers=secretary.headers, json={"overrides": overrides})
    assert answer.status_code == 422
    assert set(answer.json["errors"]) == set(overrides)
    db.session.expire_all()
    assert db.session.get(Household, alone.id).next_due_at == before
    assert client.get(URL, headers=secretary.headers).json["overrides"] == {}


def test_workers_read_the_policy_of_their_own_community_only(client, factory, secretary):
    worker = factory.actor("grid_worker", grids=("G1",))
    assert client.get(URL, headers=worker.headers).status_code == 200
    assert client.put(URL, headers=worker.headers,
                      json={"overrides": {}}).status_code == 403
    create_community(db.session, "C2", "别的社区")
    other = create_user(db.session, "sec_c2", PASSWORD, "secretary", community_code="C2")
    token, _ = issue_token(db.session, other, ttl_hours=1)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(URL, headers=headers).status_code == 404
    assert client.put(URL, headers=headers, json={"overrides": {}}).status_code == 404
    assert client.get("/api/v1/communities/NOPE/visit-policy",
                      headers=secretary.headers).status_code == 404
