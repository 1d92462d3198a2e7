"""GET /api/v1/sync/changes: what changed in my scope since my cursor, in pages, with deletes."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from schemas.households import HouseholdCreateSchema
from schemas.reports import ReportCreateSchema
from server.extensions import db
from server.models import Category, Household, Report
from server.services.access import access_for
from server.services.households import create_household
from server.services.photos import accept_photo
from server.services.reports import create_report
from tests.factories import Actor, Factory
from tests.server.storage.imagegen import make_jpeg

URL = "/api/v1/sync/changes"


@pytest.fixture(autouse=True)
def no_lag(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests read exact cursors; the lag rewind has its own test."""
    monkeypatch.setitem(app.config, "SYNC_CHANGES_LAG_S", 0.0)


@pytest.fixture
def worker(factory: Factory) -> Actor:
    return factory.actor("grid_worker", grids=("G1",))


def add_household(factory: Factory, actor: Actor, grid: str, door: str,
                  **extra: Any) -> Household:
    body = HouseholdCreateSchema().load({"building_id": factory.building(grid).id, "door": door,
                                         "head_name": "李四", **extra})
    row, _ = create_household(db.session, access_for(db.session, actor.user), body)
    return row


def add_report(actor: Actor, tmp_path: Path) -> Report:
    data = make_jpeg(80, 60, texture=0.3)
    src = tmp_path / f"{uuid.uuid4()}.jpg"
    src.write_bytes(data)
    photo, _ = accept_photo(db.session, actor.user, src, hashlib.sha256(data).hexdigest(),
                            client_uuid=str(uuid.uuid4()))
    body = ReportCreateSchema().load({
        "client_uuid": str(uuid.uuid4()), "category": "drain",
        "location": {"lat": Factory.G1_CENTER[0], "lon": Factory.G1_CENTER[1]},
        "captured_at": datetime.now(UTC).isoformat(), "photo_ids": [photo.id]})
    row, _ = create_report(db.session, access_for(db.session, actor.user), body)
    db.session.commit()
    return row


def pull(client: FlaskClient, actor: Actor, since: str | None = None,
         limit: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["limit"] = limit
    response = client.get(URL, query_string=params, headers=actor.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pull_all(client: FlaskClient, actor: Actor, since: str | None = None,
             limit: int = 500) -> tuple[list[dict[str, Any]], str]:
    changes: list[dict[str, Any]] = []
    while True:
        page = pull(client, actor, since, limit)
        changes += page["changes"]
        since = page["next_cursor"]
        if not page["has_more"]:
            return changes, since


def of_kind(changes: list[dict[str, Any]], kind: str) -> dict[Any, dict[str, Any]]:
    return {c["id"]: c for c in changes if c["kind"] == kind}


def test_first_pull_has_my_grid_households_my_reports_and_categories(
        client: FlaskClient, factory: Factory, worker: Actor, tmp_path: Path) -> None:
    mine = add_household(factory, worker, "G1", "101")
    other_worker = factory.actor("grid_worker", grids=("G2",))
    theirs = add_household(factory, other_worker, "G2", "102")
    report = add_report(worker, tmp_path)
    add_report(other_worker, tmp_path)
    page = pull(client, worker)
    assert page["reset"] is True and page["has_more"] is False
    households = of_kind(page["changes"], "household")
    assert set(households) == {mine.id}
    assert theirs.id not in households
    assert set(of_kind(page["changes"], "report")) == {report.id}
    assert "garbage" in of_kind(page["changes"], "category")
    assert households[mine.id]["data"]["head_name"] == "李四"
    assert households[mine.id]["op"] == "upsert"


def test_changes_come_oldest_first(client: FlaskClient, factory: Factory,
                                   worker: Actor) -> None:
    for door in ("1", "2", "3"):
        add_household(factory, worker, "G1", door)
    first, _ = pull_all(client, worker)
    made = [c["id"] for c in first if c["kind"] == "household"]
    assert made == sorted(made)
    homes = [db.session.get(Household, hid) for hid in made]
    homes[0].notes = "touched last"
    db.session.commit()
    again, _ = pull_all(client, worker)
    assert [c["id"] for c in again if c["kind"] == "household"] == [*made[1:], made[0]]


def test_pages_cover_everything_exactly_once(client: FlaskClient, factory: Factory,
                                             worker: Actor) -> None:
    made = {add_household(factory, worker, "G1", str(n)).id for n in range(7)}
    pages = 0
    changes: list[dict[str, Any]] = []
    since = None
    while True:
        page = pull(client, worker, since, limit=3)
        pages += 1
        changes += page["changes"]
        since = page["next_cursor"]
        assert len(page["changes"]) <= 3
        if not page["has_more"]:
            break
    households = [c["id"] for c in changes if c["kind"] == "household"]
    assert sorted(households) == sorted(made)
    keys = [(c["kind"], c["id"]) for c in changes]
    assert len(keys) == len(set(keys))
    assert pages >= 6  # 7 households and 10 categories in pages of 3


def test_next_pull_brings_only_what_changed_since(client: FlaskClient, factory: Factory,
                                                   worker: Actor) -> None:
    first = add_household(factory, worker, "G1", "201")
    _, cursor = pull_all(client, worker)
    second = add_household(factory, worker, "G1", "202")
    first.notes = "new notes"
    db.session.commit()
    page = pull(client, worker, cursor)
    assert page["reset"] is False
    assert [(c["kind"], c["id"]) for c in page["changes"]] == [
        ("household", second.id), ("household", first.id)]
    assert pull(client, worker, page["next_cursor"])["changes"] == []


def test_household_moved_out_of_my_grid_is_a_delete_for_me_and_new_for_them(
        client: FlaskClient, factory: Factory, worker: Actor) -> None:
    other = factory.actor("grid_worker", grids=("G2",))
    moving = add_household(factory, worker, "G1", "301")
    _, mine = pull_all(client, worker)
    _, theirs = pull_all(client, other)
    moving.grid_id = factory.grid("G2").id
    moving.building_id = factory.building("G2").id
    db.session.commit()
    for_me = pull(client, worker, mine)["changes"]
    assert for_me == [{"kind": "household", "id": moving.id, "op": "delete", "data": None}]
    for_them = pull(client, other, theirs)["changes"]
    assert [(c["id"], c["op"]) for c in for_them] == [(moving.id, "upsert")]


def test_households_are_masked_as_my_role_requires(
        client: FlaskClient, factory: Factory, worker: Actor) -> None:
    home = add_household(factory, worker, "G1", "401", phone="13812345678",
                         id_number=None, tags=["low_income", "elderly"])
    supervisor = factory.actor("supervisor", grids=("G1",))
    as_worker = of_kind(pull(client, worker)["changes"], "household")[home.id]["data"]
    as_supervisor = of_kind(pull(client, supervisor)["changes"], "household")[home.id]["data"]
    assert "low_income" in as_worker["tags"]
    assert as_supervisor["tags"] == ["elderly"]
    assert as_supervisor["masked"] is True
    assert "visit_interval_days" not in as_supervisor
    assert as_supervisor["phone"] == "138****5678"
    assert "id_number" not in as_worker  # lists never carry ID numbers


def test_department_gets_the_cases_dispatched_to_it(
        client: FlaskClient, factory: Factory, worker: Actor, tmp_path: Path) -> None:
    report = add_report(worker, tmp_path)
    water = factory.actor("department", department="WATER")
    urban = factory.actor("department", department="URBAN")
    _, cursor = pull_all(client, water)
    report.department_id = water.user.department_id
    report.status = "dispatched"
    db.session.commit()
    got = of_kind(pull(client, water, cursor)["changes"], "report")
    assert got[report.id]["data"]["status"] == "dispatched"
    assert of_kind(pull(client, urban)["changes"], "report") == {}
    assert of_kind(pull(client, water)["changes"], "household") == {}


def test_a_retired_category_comes_as_an_upsert_with_active_false(
        client: FlaskClient, worker: Actor) -> None:
    _, cursor = pull_all(client, worker)
    vendor = db.session.get(Category, "street_vendor")
    vendor.active = False
    db.session.commit()
    changes = pull(client, worker, cursor)["changes"]
    assert [(c["kind"], c["id"], c["data"]["active"]) for c in changes] == [
        ("category", "street_vendor", False)]


def test_new_grids_restart_the_feed_with_reset(client: FlaskClient, factory: Factory,
                                               worker: Actor) -> None:
    g2_home = add_household(factory, factory.actor("grid_worker", grids=("G2",)), "G2", "501")
    _, cursor = pull_all(client, worker)
    worker.user.grids.append(factory.grid("G2"))
    db.session.commit()
    page = pull(client, worker, cursor)
    assert page["reset"] is True
    assert g2_home.id in of_kind(page["changes"], "household")


def test_last_page_cursor_resends_the_lag_window(
        app: Flask, client: FlaskClient, factory: Factory, worker: Actor,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A transaction that commits late is caught: the last seconds are sent again."""
    monkeypatch.setitem(app.config, "SYNC_CHANGES_LAG_S", 60.0)
    home = add_household(factory, worker, "G1", "601")
    _, cursor = pull_all(client, worker)
    late = add_household(factory, worker, "G1", "602")
    late.updated_at = home.updated_at - timedelta(seconds=1)  # "committed late"
    db.session.commit()
    again = of_kind(pull(client, worker, cursor)["changes"], "household")
    assert {home.id, late.id} <= set(again)


def test_a_cursor_not_made_by_the_server_is_422(client: FlaskClient, worker: Actor) -> None:
    response = client.get(URL, query_string={"since": "bm90IGEgY3Vyc29y"},
                          headers=worker.headers)
    assert response.status_code == 422
    assert "since" in response.get_json()["errors"]


def test_changes_need_a_token(client: FlaskClient) -> None:
    assert client.get(URL).status_code == 401
