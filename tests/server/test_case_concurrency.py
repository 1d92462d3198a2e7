"""Two people moving the same case at once: one wins, the others get 409 (both databases).

Each racer is a thread with its own test client, hence its own app context and database
session. A barrier inside the service holds every racer after its checks and before its write,
so all of them have read the same version before any writes: the race is real every run.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.models import CaseStep, Report
from server.services import cases
from tests.server.case_support import CaseWorld


@pytest.fixture
def w(factory, monkeypatch) -> CaseWorld:
    return CaseWorld(factory, monkeypatch)


def _race(app: Any, monkeypatch: pytest.MonkeyPatch,
          moves: list[tuple[Any, int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """Run the moves at once (one thread each); their (status code, body) in the same order."""
    barrier = threading.Barrier(len(moves), timeout=30)
    numbered = cases.next_seq

    def next_seq_in_step(*args: Any, **kwargs: Any) -> int:
        # The last read before the write: every racer has passed its checks here.
        barrier.wait()
        return numbered(*args, **kwargs)

    monkeypatch.setattr(cases, "next_seq", next_seq_in_step)
    results: list[tuple[int, dict[str, Any]] | None] = [None] * len(moves)

    def run(index: int, actor: Any, report_id: int, body: dict[str, Any]) -> None:
        answer = app.test_client().post(f"/api/v1/reports/{report_id}/transitions",
                                        headers=actor.headers, json=body)
        results[index] = (answer.status_code, answer.get_json())

    threads = [threading.Thread(target=run, args=(i, *move)) for i, move in enumerate(moves)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    monkeypatch.setattr(cases, "next_seq", numbered)
    assert all(r is not None for r in results), "a racer did not finish"
    return results  # type: ignore[return-value]


def _steps(report_id: int) -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(CaseStep).where(
        CaseStep.report_id == report_id)) or 0)


def test_four_dispatchers_accepting_one_report_at_once_leave_one_winner(app, w, monkeypatch):
    report = w.report()
    version = report.version
    racers = [w.actor(f"dispatcher{i}", "dispatcher") for i in range(4)]
    for racer in racers:  # the first request of a token writes its last-use time; not racing
        w.client.get("/api/v1/me", headers=racer.headers)
    results = _race(app, monkeypatch, [(r, report.id, {"action": "accept"}) for r in racers])

    codes = Counter(code for code, _body in results)
    assert codes == {201: 1, 409: 3}, results
    for code, body in results:
        if code == 409:
            assert body["type"].endswith("/concurrent_transition")
            assert body["case_status"] == "accepted"
    assert _steps(report.id) == 1
    fresh = db.session.get(Report, report.id)
    assert (fresh.status, fresh.version) == ("accepted", version + 1)


def test_handle_and_return_racing_on_one_case_leave_exactly_one_of_them(app, w, monkeypatch):
    report = w.report()
    w.walk(report.id, "dispatched")
    water = w.actor("dept_WATER")
    colleague = w.actor("water2", "department", department="WATER")
    for actor in (water, colleague):
        w.client.get("/api/v1/me", headers=actor.headers)
    before = _steps(report.id)
    results = _race(app, monkeypatch, [
        (water, report.id, {"action": "handle", "photo_ids": [w.photo(water)]}),
        (colleague, report.id, {"action": "return", "note": "不是我们的"}),
    ])

    assert sorted(code for code, _ in results) == [201, 409], results
    winner = next(body for code, body in results if code == 201)
    assert _steps(report.id) == before + 1
    assert db.session.get(Report, report.id).status == winner["status"]


def test_a_racer_that_lost_can_retry_on_the_new_state(app, w, monkeypatch):
    report = w.report()
    a, b = w.actor("d1", "dispatcher"), w.actor("d2", "dispatcher")
    for actor in (a, b):
        w.client.get("/api/v1/me", headers=actor.headers)
    results = _race(app, monkeypatch, [(a, report.id, {"action": "accept"}),
                                       (b, report.id, {"action": "accept"})])
    loser = next(body for code, body in results if code == 409)
    assert (loser["case_status"], loser["allowed_actions"]) == ("accepted", ["dispatch"])
    retry = w.move(b, report.id, "dispatch", department="WATER",
                   expected_version=loser["version"])
    assert retry.status_code == 201, retry.get_json()


def test_the_same_move_sent_twice_at_once_makes_one_step_and_answers_both(app, w, monkeypatch):
    # A phone that timed out and sent its 回告 again while the first copy was still running.
    report = w.report()
    w.walk(report.id, "dispatched")
    water = w.actor("dept_WATER")
    w.client.get("/api/v1/me", headers=water.headers)
    before = _steps(report.id)
    body = {"action": "handle", "photo_ids": [w.photo(water)], "client_uuid": str(uuid.uuid4())}
    results = _race(app, monkeypatch, [(water, report.id, body), (water, report.id, body)])

    assert sorted(code for code, _ in results) == [200, 201], results
    assert results[0][1]["step"]["seq"] == results[1][1]["step"]["seq"]
    assert _steps(report.id) == before + 1
