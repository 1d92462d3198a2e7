"""POST /api/v1/sync/batch: many queued records, one result each, one bad record fails alone."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.extensions import db
from server.models import Household, Report, Visit
from server.services.photos import accept_photo
from tests.factories import Actor, Factory
from tests.server.storage.imagegen import make_jpeg

URL = "/api/v1/sync/batch"
NOW = datetime.now(UTC).replace(microsecond=0)


def _uuid() -> str:
    return str(uuid.uuid4())


def household(building_id: int, door: str, uid: str | None = None) -> dict[str, Any]:
    return {"kind": "household", "client_uuid": uid or _uuid(),
            "body": {"building_id": building_id, "unit": "1", "door": door,
                     "head_name": "张三", "members": 2, "tags": ["elderly_alone"]}}


def visit(household_ref: dict[str, Any], at: tuple[float, float],
          uid: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {**household_ref, "visited_at": (NOW - timedelta(hours=1)).isoformat(),
            "location": {"lat": at[0], "lon": at[1], "accuracy_m": 8}, "outcome": "met",
            "notes": "家中一切正常", **extra}
    return {"kind": "visit", "client_uuid": uid or _uuid(), "body": body}


def report(photo_ids: list[str], at: tuple[float, float], uid: str | None = None,
           ) -> dict[str, Any]:
    return {"kind": "report", "client_uuid": uid or _uuid(),
            "body": {"category": "garbage", "description": "北河沿垃圾堆积",
                     "location": {"lat": at[0], "lon": at[1]},
                     "captured_at": (NOW - timedelta(minutes=5)).isoformat(),
                     "photo_ids": photo_ids}}


def push(client: FlaskClient, actor: Actor, records: list[dict[str, Any]]) -> Any:
    response = client.post(URL, json={"records": records}, headers=actor.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


def uploaded_photo(actor: Actor, tmp_path: Path, seed: int = 1) -> str:
    data = make_jpeg(64 + seed, 48, texture=0.5)
    src = tmp_path / f"p{seed}.jpg"
    src.write_bytes(data)
    photo, _ = accept_photo(db.session, actor.user, src, hashlib.sha256(data).hexdigest(),
                            client_uuid=_uuid())
    db.session.commit()
    return photo.id


@pytest.fixture
def worker(factory: Factory) -> Actor:
    return factory.actor("grid_worker", grids=("G1",))


@pytest.fixture
def building_id(factory: Factory, worker: Actor) -> int:
    return factory.building("G1").id


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_household_and_its_visit_made_offline_arrive_in_one_batch(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    home = household(building_id, "301")
    door = Factory.G1_CENTER
    results = push(client, worker, [
        home, visit({"household_client_uuid": home["client_uuid"]}, door)])
    assert [r["status"] for r in results] == [201, 201]
    assert [r["kind"] for r in results] == ["household", "visit"]
    stored = db.session.get(Visit, results[1]["id"])
    assert stored.household_id == results[0]["id"]
    assert stored.household.client_uuid == home["client_uuid"]
    assert results[0]["problem"] is None


def test_replayed_batch_answers_200_with_the_first_ids_and_makes_no_rows(
        client: FlaskClient, worker: Actor, building_id: int, tmp_path: Path) -> None:
    home = household(building_id, "302")
    records = [home, visit({"household_client_uuid": home["client_uuid"]}, Factory.G1_CENTER),
               report([uploaded_photo(worker, tmp_path)], Factory.G1_CENTER)]
    first = push(client, worker, records)
    again = push(client, worker, records)
    assert [r["status"] for r in first] == [201, 201, 201]
    assert [r["status"] for r in again] == [200, 200, 200]
    assert [r["id"] for r in again] == [r["id"] for r in first]
    assert (count(Household), count(Visit), count(Report)) == (1, 1, 1)


def test_one_invalid_record_fails_alone_with_its_field_errors(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    good_before = household(building_id, "401")
    bad = visit({"household_client_uuid": good_before["client_uuid"]}, Factory.G1_CENTER,
                outcome="asleep")
    good_after = household(building_id, "402")
    results = push(client, worker, [good_before, bad, good_after])
    assert [r["status"] for r in results] == [201, 422, 201]
    problem = results[1]["problem"]
    assert problem["type"].endswith("/problems/validation")
    assert "outcome" in problem["errors"]
    assert results[1]["id"] is None
    assert (count(Household), count(Visit)) == (2, 0)


def test_a_record_that_fails_after_writing_rolls_back_only_itself(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    home = household(building_id, "403")
    future = visit({"household_client_uuid": home["client_uuid"]}, Factory.G1_CENTER,
                   visited_at=(NOW + timedelta(days=2)).isoformat())
    fine = visit({"household_client_uuid": home["client_uuid"]}, Factory.G1_CENTER)
    results = push(client, worker, [home, future, fine])
    assert [r["status"] for r in results] == [201, 422, 201]
    assert "visited_at" in results[1]["problem"]["errors"]
    assert count(Visit) == 1
    assert db.session.get(Household, results[0]["id"]).last_visit_at is not None


def test_same_client_uuid_with_another_body_is_a_conflict(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    uid = _uuid()
    assert push(client, worker, [household(building_id, "501", uid)])[0]["status"] == 201
    results = push(client, worker, [household(building_id, "502", uid)])
    assert results[0]["status"] == 409
    assert results[0]["problem"]["type"].endswith("/problems/conflict")
    assert count(Household) == 1


def test_a_visit_before_its_household_in_the_batch_is_dependency_missing(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    home = household(building_id, "601")
    early = visit({"household_client_uuid": home["client_uuid"]}, Factory.G1_CENTER)
    results = push(client, worker, [early, home])
    assert [r["status"] for r in results] == [409, 201]
    problem = results[0]["problem"]
    assert problem["type"].endswith("/problems/dependency_missing")
    assert problem["missing"] == [{"kind": "household", "client_uuid": home["client_uuid"]}]
    assert push(client, worker, [early])[0]["status"] == 201


def test_a_report_whose_photo_has_not_arrived_names_the_missing_photo(
        client: FlaskClient, worker: Actor) -> None:
    photo_id = _uuid()
    results = push(client, worker, [report([photo_id], Factory.G1_CENTER)])
    assert results[0]["status"] == 409
    assert results[0]["problem"]["missing"] == [{"kind": "photo", "client_uuid": photo_id}]


def test_a_household_outside_my_grids_is_forbidden_and_the_rest_goes_through(
        client: FlaskClient, worker: Actor, factory: Factory, building_id: int) -> None:
    elsewhere = household(factory.building("G2").id, "701")
    results = push(client, worker, [elsewhere, household(building_id, "702")])
    assert [r["status"] for r in results] == [403, 201]
    assert results[0]["problem"]["type"].endswith("/problems/forbidden")


def test_a_kind_my_role_may_not_create_is_forbidden_per_record(
        client: FlaskClient, factory: Factory) -> None:
    head = factory.actor("building_head", grids=("G1",))
    results = push(client, head, [household(factory.building("G1").id, "801")])
    assert results[0]["status"] == 403
    assert "households.create" in results[0]["problem"]["detail"]


def test_results_match_what_the_single_endpoint_answers(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    record = household(building_id, "")  # door too short
    single = client.post("/api/v1/households",
                         json={**record["body"], "client_uuid": record["client_uuid"]},
                         headers=worker.headers)
    batched = push(client, worker, [record])[0]
    assert batched["status"] == single.status_code == 422
    assert batched["problem"]["errors"] == single.get_json()["errors"]
    assert batched["problem"]["type"] == single.get_json()["type"]


def test_body_client_uuid_must_match_the_record(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    record = household(building_id, "901")
    record["body"]["client_uuid"] = _uuid()
    results = push(client, worker, [record])
    assert results[0]["status"] == 422
    assert "client_uuid" in results[0]["problem"]["errors"]


@pytest.mark.parametrize(("envelope", "field"), [
    ({"records": []}, "records"),
    ({"records": [{"kind": "photo", "client_uuid": str(uuid.uuid4()), "body": {}}]}, "records"),
    ({"records": [{"kind": "visit", "client_uuid": "not-a-uuid", "body": {}}]}, "records"),
    ({}, "records"),
])
def test_a_bad_envelope_fails_the_whole_request(
        client: FlaskClient, worker: Actor, envelope: dict[str, Any], field: str) -> None:
    response = client.post(URL, json=envelope, headers=worker.headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_more_than_200_records_is_refused(
        client: FlaskClient, worker: Actor, building_id: int) -> None:
    records = [household(building_id, str(n)) for n in range(201)]
    response = client.post(URL, json={"records": records}, headers=worker.headers)
    assert response.status_code == 422
    assert count(Household) == 0


def test_batch_needs_a_token_and_the_push_permission(
        client: FlaskClient, factory: Factory) -> None:
    assert client.post(URL, json={"records": []}).status_code == 401
    department = factory.actor("department")
    response = client.post(URL, json={"records": [household(1, "1")]},
                           headers=department.headers)
    assert response.status_code == 403
