"""A sync batch's visits: one read for the run, one INSERT for a run of visits (the
per-visit savepoint only for a run whose joint write failed), the same answers and end
state as one POST /visits at a time."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from server.extensions import db
from server.models import Category, Household, Report, Visit, VisitNeed, YellowRibbonRequest
from server.models.types import utcnow
from tests.factories import Actor, Factory
from tests.server.visit_support import add_household, visit_body

URL = "/api/v1/sync/batch"
SCHEDULE = ("last_visit_at", "last_met_at", "due_from_at", "next_due_at", "priority",
            "visit_interval_days", "tags")


@pytest.fixture
def worker(factory: Factory) -> Actor:
    return factory.actor("grid_worker", grids=("G1",))


def record(body: dict[str, Any]) -> dict[str, Any]:
    """A body of POST /visits as a batch record."""
    body = dict(body)
    return {"kind": "visit", "client_uuid": body.pop("client_uuid"), "body": body}


def push(client: FlaskClient, actor: Actor, records: list[dict[str, Any]]) -> list[Any]:
    response = client.post(URL, json={"records": records}, headers=actor.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


def raise_ribbon(household: Household, hours_ago: float) -> YellowRibbonRequest:
    request = YellowRibbonRequest(household_id=household.id,
                                  raised_at=utcnow() - timedelta(hours=hours_ago), note="求助")
    household.tags = [*household.tags, "yellow_ribbon"]
    db.session.add(request)
    db.session.commit()
    return request


def schedule_of(household_id: int) -> tuple[Any, ...]:
    db.session.expire_all()
    home = db.session.get(Household, household_id)
    return tuple(getattr(home, name) for name in SCHEDULE)


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile (one per executemany)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        seen.append(sql)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def test_a_batch_leaves_households_as_one_visit_at_a_time_would(
        client: FlaskClient, worker: Actor, factory: Factory) -> None:
    # Two identical households with an open yellow ribbon raised 2 hours ago, and the same
    # three visits, sent out of order: a met visit after the ribbon (closes it), a met visit
    # before it (leaves it open) and a not-home visit that is the latest of all.
    now = utcnow()
    batched = add_household(factory, door="101", tags=("elderly_alone",))
    single = add_household(factory, door="102", tags=("elderly_alone",))
    ribbons = {home.id: raise_ribbon(home, hours_ago=2).id for home in (batched, single)}
    plan = [("met", now - timedelta(hours=1)), ("met", now - timedelta(hours=3)),
            ("not_home", now - timedelta(minutes=10))]
    results = push(client, worker, [record(visit_body(batched, visited_at=at, outcome=outcome))
                                    for outcome, at in plan])
    assert [r["status"] for r in results] == [201, 201, 201]
    ids = []
    for outcome, at in plan:
        answer = client.post("/api/v1/visits", headers=worker.headers,
                             json=visit_body(single, visited_at=at, outcome=outcome))
        assert answer.status_code == 201
        ids.append(answer.get_json()["id"])

    assert schedule_of(batched.id) == schedule_of(single.id)
    home = db.session.get(Household, batched.id)
    assert home.last_visit_at == plan[2][1] and home.last_met_at == plan[0][1]
    assert "yellow_ribbon" not in home.tags
    closed = [db.session.get(YellowRibbonRequest, ribbons[h]) for h in (batched.id, single.id)]
    assert [c.closed_by_visit_id for c in closed] == [results[0]["id"], ids[0]]


def test_visits_around_a_failing_household_record_all_stay(
        client: FlaskClient, worker: Actor, factory: Factory) -> None:
    home = add_household(factory, door="201")
    before = record(visit_body(home, visited_at=utcnow() - timedelta(hours=2)))
    elsewhere = {"kind": "household", "client_uuid": str(uuid.uuid4()),
                 "body": {"building_id": factory.building("G2").id, "unit": "1",
                          "door": "9", "head_name": "李四"}}
    after = record(visit_body(home, visited_at=utcnow() - timedelta(hours=1)))
    results = push(client, worker, [before, elsewhere, after])
    assert [r["status"] for r in results] == [201, 403, 201]
    assert db.session.scalar(select(func.count(Visit.id))) == 2
    db.session.expire_all()
    assert db.session.get(Household, home.id).last_met_at == (
        db.session.get(Visit, results[2]["id"]).visited_at)


def test_a_client_uuid_twice_in_one_batch_is_a_replay_or_a_conflict(
        client: FlaskClient, worker: Actor, factory: Factory) -> None:
    home = add_household(factory, door="301")
    first = record(visit_body(home))
    edited = {**first, "body": {**first["body"], "notes": "改过了"}}
    results = push(client, worker, [first, first, edited])
    assert [r["status"] for r in results] == [201, 200, 409]
    assert results[1]["id"] == results[0]["id"]
    assert results[2]["problem"]["type"].endswith("/problems/conflict")
    assert db.session.scalar(select(func.count(Visit.id))) == 1


def test_a_need_flagged_in_a_batch_becomes_one_report(
        client: FlaskClient, worker: Actor, factory: Factory) -> None:
    db.session.add(Category(code="drain", name_zh="下水道", name_en="Drains", sla_hours=24))
    db.session.commit()
    home = add_household(factory, door="401")
    asks = record(visit_body(home, needs=[{"category": "drain", "text": "下水道堵了",
                                           "create_report": True}]))
    plain = record(visit_body(home))
    first = push(client, worker, [asks, plain])
    again = push(client, worker, [asks])
    assert [r["status"] for r in first] == [201, 201] and again[0]["status"] == 200
    need = db.session.scalar(select(VisitNeed).where(VisitNeed.visit_id == first[0]["id"]))
    assert need.report_id is not None
    assert db.session.scalar(select(func.count(Report.id))) == 1


def test_a_batch_of_visits_reads_once_instead_of_once_per_visit(
        client: FlaskClient, worker: Actor, factory: Factory) -> None:
    homes = [add_household(factory, door=str(500 + n)) for n in range(20)]
    bodies = [record(visit_body(homes[n % 20], visited_at=utcnow() - timedelta(minutes=n)))
              for n in range(100)]
    with statements() as sent:
        results = push(client, worker, bodies)
    assert {r["status"] for r in results} == {201}
    # The reads (replays, households, ribbons), the visits' INSERT (in one savepoint) and
    # the households' updates are per batch, not per visit: a savepoint, INSERT and release
    # per visit would be 300 statements here, a query per visit 900.
    assert len(sent) < 40, len(sent)
    assert len([s for s in sent if s.lstrip().upper().startswith("SELECT")]) < 15
    assert len([s for s in sent if "INSERT INTO visit " in s]) == 1
    assert len({r["id"] for r in results}) == 100


def test_a_visit_the_joint_insert_fails_on_fails_alone(
        client: FlaskClient, worker: Actor, factory: Factory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A row the database refuses (here: a household id that breaks the foreign key) takes
    # the run's one INSERT down; the run is written again one visit at a time, and only
    # that visit fails, as a server error of its own.
    from server.services import visits as service

    homes = [add_household(factory, door=str(650 + n)) for n in range(3)]
    bodies = [record(visit_body(home)) for home in homes]
    broken = bodies[1]["client_uuid"]
    prepare = service.VisitWriter._prepare

    def corrupt(self: Any, body: Any) -> Any:
        ready = prepare(self, body)
        if body["client_uuid"] == broken:
            ready.row["household_id"] = 987654321
        return ready

    monkeypatch.setattr(service.VisitWriter, "_prepare", corrupt)
    results = push(client, worker, bodies)
    assert [r["status"] for r in results] == [201, 500, 201]
    assert results[1]["problem"]["type"].endswith("/problems/server_error")
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Visit.id))) == 2
    assert db.session.get(Household, homes[1].id).last_visit_at is None
    assert db.session.get(Household, homes[2].id).last_visit_at is not None


def test_a_visit_a_twin_wrote_first_answers_from_what_the_insert_returned(
        client: FlaskClient, worker: Actor, factory: Factory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer's read of known client_uuids is blinded, as if the twins had committed
    # after it: ON CONFLICT DO NOTHING returns no row for them, and each answers from the
    # row that is there: the same body a replay (200), another body a conflict (409).
    from server.services import visits as service

    homes = [add_household(factory, door=str(660 + n)) for n in range(3)]
    same, edited, fresh = (record(visit_body(home)) for home in homes)
    first = push(client, worker, [same, edited])
    init = service.VisitWriter.__init__

    def blind(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._replays.clear()

    monkeypatch.setattr(service.VisitWriter, "__init__", blind)
    changed = {**edited, "body": {**edited["body"], "notes": "改过了"}}
    results = push(client, worker, [same, changed, fresh])
    assert [r["status"] for r in results] == [200, 409, 201]
    assert results[0]["id"] == first[0]["id"]
    assert results[1]["problem"]["type"].endswith("/problems/conflict")
    assert db.session.scalar(select(func.count(Visit.id))) == 3


def test_two_copies_of_a_visit_racing_make_one_visit_and_answer_both(
        app: Any, worker: Actor, factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both copies read "no such visit yet" before either writes: the unique client_uuid
    # settles it, the loser's savepoint rolls back and it answers the winner's visit.
    from server.services.visits import VisitWriter

    home = add_household(factory, door="601")
    body = visit_body(home)
    barrier = threading.Barrier(2, timeout=30)
    load = VisitWriter._load_households

    def after_both_looked(self: Any, *args: Any) -> None:
        barrier.wait()
        load(self, *args)

    monkeypatch.setattr(VisitWriter, "_load_households", after_both_looked)
    answers: list[tuple[int, Any]] = []

    def send() -> None:
        answer = app.test_client().post("/api/v1/visits", json=body, headers=worker.headers)
        answers.append((answer.status_code, answer.get_json().get("id")))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(code for code, _ in answers) == [200, 201], answers
    assert len({visit_id for _, visit_id in answers}) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Visit.id))) == 1
    assert db.session.get(Household, home.id).last_visit_at is not None


def test_post_visits_loads_its_answer_in_one_query(
        client: FlaskClient, worker: Actor, factory: Factory) -> None:
    # The answer shows the needs and photo ids: read with the visit, not one lazy load
    # each while the schema dumps it (household and worker are in the session already).
    home = add_household(factory, door="671")
    body = visit_body(home, needs=[{"category": "welfare", "text": "想申请低保"}])
    with statements() as sent:
        answer = client.post("/api/v1/visits", json=body, headers=worker.headers)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["needs"][0]["text"] == "想申请低保"
    reads = [s for s in sent if s.lstrip().upper().startswith("SELECT")
             and ("visit_need" in s or "visit_photo" in s or "household" in s
                  or "user_account" in s)]
    after_insert = reads[[n for n, s in enumerate(reads) if "visit_need" in s][0]:]
    assert len(after_insert) == 1, after_insert
    assert "visit_photo" in after_insert[0] and "user_account" in after_insert[0]
