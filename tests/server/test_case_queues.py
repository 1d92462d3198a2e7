"""Work queues (``?queue=mine``) per role, deadlines, and the escalation of overdue cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import CaseStep, Report
from server.services.access import access_for
from server.services.case_queues import my_queue
from server.services.escalation import escalate_overdue
from tests.server.case_support import CaseWorld


@pytest.fixture
def w(factory, monkeypatch) -> CaseWorld:
    return CaseWorld(factory, monkeypatch)


def _queue(w: CaseWorld, actor) -> list[int]:
    answer = w.client.get("/api/v1/reports?queue=mine&limit=500", headers=actor.headers)
    assert answer.status_code == 200, answer.get_json()
    return sorted(item["id"] for item in answer.get_json()["items"])


def _cases(w: CaseWorld) -> dict[str, Report]:
    """One case in each state (G1, WATER), and a few that belong to others."""
    made = {}
    for status in ("reported", "accepted", "dispatched", "handled", "verified", "closed"):
        made[status] = w.report()
        w.walk(made[status].id, status)
    made["urban"] = w.report()
    w.walk(made["urban"].id, "dispatched", dept="URBAN")
    made["g2_handled"] = w.report(grid="G2", reporter=w.actor("g2w", "grid_worker",
                                                             grids=("G2",)))
    w.walk(made["g2_handled"].id, "handled")
    made["rejected"] = w.report()
    w.move(w.actor("dispatcher"), made["rejected"].id, "reject", note="重复")
    return made


def test_each_role_gets_its_own_work_in_its_queue(w):
    made = _cases(w)
    ids = {k: r.id for k, r in made.items()}
    assert _queue(w, w.actor("dispatcher")) == sorted(
        [ids["reported"], ids["accepted"], ids["verified"]])
    assert _queue(w, w.actor("dept_WATER")) == [ids["dispatched"]]
    assert _queue(w, w.actor("dept_URBAN")) == [ids["urban"]]
    assert _queue(w, w.actor("supervisor")) == [ids["handled"]]  # G1 only
    worker_open = [ids[k] for k in ("reported", "accepted", "dispatched", "handled",
                                    "verified", "urban")]
    assert _queue(w, w.actor("grid_worker")) == sorted(worker_open)


def test_a_department_queue_shows_deadlines(w):
    report = w.report()
    w.walk(report.id, "dispatched")
    answer = w.client.get("/api/v1/reports?queue=mine", headers=w.actor("dept_WATER").headers)
    (item,) = answer.get_json()["items"]
    assert item["deadline_at"] is not None and item["department"] == "WATER"


def test_an_overdue_case_escalates_once_and_joins_the_dispatcher_queue(w):
    report = w.report()
    w.walk(report.id, "dispatched")
    db.session.refresh(report)
    dispatcher = w.actor("dispatcher")
    assert report.id not in _queue(w, dispatcher)

    w.set_time(report.deadline_at + timedelta(hours=2))
    assert report.id in _queue(w, dispatcher)  # reading the queue escalated it
    assert escalate_overdue(db.session) == []  # once per deadline
    steps = db.session.scalars(select(CaseStep).where(
        CaseStep.report_id == report.id, CaseStep.action == "escalate")).all()
    assert len(steps) == 1 and steps[0].actor_id is None and steps[0].actor_role == "system"
    db.session.refresh(report)
    assert report.escalated_at == w.time and report.status == "dispatched"

    timeline = w.client.get(f"/api/v1/reports/{report.id}/timeline",
                            headers=dispatcher.headers).get_json()
    assert timeline["overdue"] is True
    assert timeline["steps"][-1]["action"] == "escalate"
    secretary = w.actor("secretary")
    assert _queue(w, secretary) == [report.id]


def test_an_escalated_case_can_still_be_handled_and_closes_late(w):
    report = w.report()
    w.walk(report.id, "dispatched")
    db.session.refresh(report)
    w.set_time(report.deadline_at + timedelta(minutes=1))
    escalate_overdue(db.session)
    w.walk(report.id, "closed")
    db.session.refresh(report)
    assert report.closed_on_time is False


def test_a_new_deadline_after_failed_verification_can_escalate_again(w):
    report = w.report()
    w.walk(report.id, "dispatched")
    db.session.refresh(report)
    w.set_time(report.deadline_at + timedelta(minutes=1))
    assert escalate_overdue(db.session) == [report.id]
    w.walk(report.id, "handled")
    supervisor = w.actor("supervisor")
    w.move(supervisor, report.id, "fail_verify", note="没修好", photo_ids=[w.photo(supervisor)])
    db.session.refresh(report)
    assert report.escalated_at is None
    w.set_time(report.deadline_at + timedelta(minutes=1))
    assert escalate_overdue(db.session) == [report.id]


def test_the_cli_escalates_overdue_cases(w, app):
    report = w.report()
    w.walk(report.id, "dispatched")
    db.session.refresh(report)
    w.set_time(report.deadline_at + timedelta(hours=1))
    result = app.test_cli_runner().invoke(args=["cases", "escalate"])
    assert result.exit_code == 0, result.output
    assert f"Escalated 1 overdue case(s): {report.id}." in result.output


def test_the_queue_service_lists_the_same_cases_as_the_api(w):
    made = _cases(w)
    access = access_for(db.session, w.actor("supervisor").user)
    rows = db.session.scalars(my_queue(access)).all()
    assert [r.id for r in rows] == [made["handled"].id]
