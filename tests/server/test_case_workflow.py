"""The case workflow's rules: who may make which move from which state, and what each needs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from schemas.cases import CASE_ACTIONS, CASE_STATUSES
from server.extensions import db
from server.models import CaseStep, Report
from server.services import cases
from tests.server.case_support import CaseWorld

# The workflow of the issue, written out by hand: (state, action, role) -> next state.
LEGAL = {
    ("reported", "accept", "dispatcher"): "accepted",
    ("reported", "reject", "dispatcher"): "rejected",
    ("accepted", "dispatch", "dispatcher"): "dispatched",
    ("dispatched", "return", "department"): "accepted",
    ("dispatched", "handle", "department"): "handled",
    ("handled", "verify", "supervisor"): "verified",
    ("handled", "fail_verify", "supervisor"): "dispatched",
    ("verified", "close", "dispatcher"): "closed",
}
ROLES = ("admin", "secretary", "dispatcher", "department", "supervisor", "grid_worker",
         "building_head")


@pytest.fixture
def w(factory, monkeypatch) -> CaseWorld:
    return CaseWorld(factory, monkeypatch)


def _case_in(w: CaseWorld, status: str) -> Report:
    report = w.report()
    if status == "rejected":
        w.move(w.actor("dispatcher"), report.id, "reject", note="不属实")
    elif status != "reported":
        w.walk(report.id, status)
    db.session.refresh(report)
    assert report.status == status
    return report


def _full_body(w: CaseWorld, actor) -> dict:
    """A body that meets every move's needs, so only the state or the role can refuse it."""
    return {"note": "理由", "department": "WATER", "photo_ids": [w.photo(actor)],
            "location": w.site()}


def test_the_service_table_is_the_workflow_of_the_issue():
    table = {(state, action): to for (state, action), (to, _roles) in cases.TRANSITIONS.items()}
    assert table == {(s, a): to for (s, a, _r), to in LEGAL.items()}
    assert set(cases.ACTIONS) == set(CASE_ACTIONS)


def test_every_illegal_move_for_every_role_is_refused_with_409_403_or_404(w):
    """409 or 403 for whoever may read the case; 404 for whoever may not (a department
    before the case was ever dispatched to it)."""
    actors = {role: w.actor(role, grids=("G1",)) for role in ROLES}
    actors["department"] = w.actor("dept_WATER", "department", department="WATER")
    refused = 0
    for status in CASE_STATUSES:
        report = _case_in(w, status)
        version = report.version
        for role, actor in actors.items():
            body = _full_body(w, actor)
            for action in CASE_ACTIONS:
                if (status, action, role) in LEGAL:
                    continue
                answer = w.move(actor, report.id, action, **body)
                reads = w.client.get(f"/api/v1/reports/{report.id}",
                                     headers=actor.headers).status_code == 200
                assert answer.status_code in ((403, 409) if reads else (404,)), (
                    status, role, action, answer.json)
                problem = answer.get_json()
                if answer.status_code == 409:
                    assert problem["case_status"] == status
                    assert problem["allowed_actions"] == [
                        a for (s, a, _r) in LEGAL if s == status]
                    assert status in problem["detail"]
                refused += 1
        db.session.refresh(report)
        assert (report.status, report.version) == (status, version)
    assert refused == len(CASE_STATUSES) * len(ROLES) * len(CASE_ACTIONS) - len(LEGAL)


@pytest.mark.parametrize(("state", "action", "role"), sorted(LEGAL))
def test_every_legal_move_succeeds_for_its_role(w, state, action, role):
    report = _case_in(w, state)
    actor = w.actor("dept_WATER") if role == "department" else w.actor(role)
    answer = w.move(actor, report.id, action, **_full_body(w, actor))
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["status"] == LEGAL[(state, action, role)]
    assert answer.get_json()["step"]["action"] == action


def test_moves_on_a_case_i_may_not_read_are_not_found_and_say_nothing_of_it(w):
    """Like every record out of scope: 404, with no status, moves or version."""
    handled = _case_in(w, "handled")
    g2_supervisor = w.actor("g2_sup", "supervisor", grids=("G2",))
    for body in ({"location": w.site()}, {"location": w.site(), "expected_version": 1}):
        answer = w.move(g2_supervisor, handled.id, "verify", **body)
        assert answer.status_code == 404
        assert not {"case_status", "allowed_actions", "version"} & set(answer.get_json())

    dispatched = _case_in(w, "dispatched")
    urban = w.actor("urban", "department", department="URBAN")
    for action in ("handle", "return", "accept"):
        answer = w.move(urban, dispatched.id, action, note="x", photo_ids=[w.photo(urban)])
        assert answer.status_code == 404
        assert "case_status" not in answer.get_json()


def test_a_case_i_may_read_but_not_move_is_forbidden(w):
    report = w.report(grid="G2")
    w.walk(report.id, "dispatched", dept="WATER")
    w.move(w.actor("dept_WATER"), report.id, "return", note="不归我们管")
    water = w.actor("dept_WATER")  # held it once: may still read it, no longer move it
    answer = w.move(water, report.id, "handle", photo_ids=[w.photo(water)])
    assert answer.status_code in (403, 409)
    assert answer.status_code != 404


def test_a_role_that_never_moves_cases_is_forbidden_before_anything_else(w):
    report = w.report()
    answer = w.move(w.actor("grid_worker"), report.id, "accept")
    assert answer.status_code == 403
    assert w.move(w.actor("dispatcher"), 999_999, "accept").status_code == 404


def test_dispatch_sets_the_department_and_a_deadline_from_the_category_hours(w):
    w.category("illegal_parking", 4)
    report = w.report(category="illegal_parking")
    dispatcher = w.actor("dispatcher")
    w.move(dispatcher, report.id, "accept")
    dispatched_at = w.advance(minutes=3)
    answer = w.move(dispatcher, report.id, "dispatch", department="URBAN")
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["department"] == "URBAN"
    db.session.refresh(report)
    assert report.deadline_at == dispatched_at + timedelta(hours=4)
    assert report.dispatched_at == dispatched_at and report.accepted_at is not None
    assert body["step"]["deadline_at"] == report.deadline_at.isoformat()


@pytest.mark.parametrize(("state", "action", "role", "body", "field"), [
    ("reported", "reject", "dispatcher", {}, "note"),
    ("accepted", "dispatch", "dispatcher", {}, "department"),
    ("accepted", "dispatch", "dispatcher", {"department": "NOPE"}, "department"),
    ("dispatched", "return", "department", {"note": "  "}, "note"),
    ("dispatched", "handle", "department", {"note": "done"}, "photo_ids"),
    ("handled", "verify", "supervisor", {}, "location"),
    ("handled", "verify", "supervisor", {"location": {"lat": 28.81, "lon": 113.074}},
     "location"),
    ("handled", "fail_verify", "supervisor", {"photo_ids": "PHOTO"}, "note"),
    ("handled", "fail_verify", "supervisor", {"note": "仍有垃圾"}, "photo_ids"),
])
def test_a_move_missing_what_it_needs_is_422_naming_the_field(w, state, action, role, body,
                                                               field):
    report = _case_in(w, state)
    actor = w.actor("dept_WATER") if role == "department" else w.actor(role)
    if body.get("photo_ids") == "PHOTO":
        body = {**body, "photo_ids": [w.photo(actor)]}
    answer = w.move(actor, report.id, action, **body)
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"]
    db.session.refresh(report)
    assert report.status == state


def test_handling_with_a_photo_not_yet_uploaded_is_a_dependency_conflict(w):
    report = _case_in(w, "dispatched")
    missing = "6f1c2d9e-8a4b-4c3d-9e2f-1a2b3c4d5e6f"
    answer = w.move(w.actor("dept_WATER"), report.id, "handle", photo_ids=[missing])
    assert answer.status_code == 409
    assert answer.get_json()["missing"] == [{"kind": "photo", "client_uuid": missing}]


def test_return_sends_the_case_back_to_the_dispatcher_without_a_department(w):
    report = _case_in(w, "dispatched")
    answer = w.move(w.actor("dept_WATER"), report.id, "return", note="不属于水务")
    assert answer.status_code == 201
    assert answer.get_json()["step"]["department"] == "WATER"
    db.session.refresh(report)
    assert (report.status, report.department_id, report.deadline_at) == ("accepted", None, None)
    again = w.move(w.actor("dispatcher"), report.id, "dispatch", department="URBAN")
    assert again.get_json()["department"] == "URBAN"


def test_failed_verification_goes_back_to_the_same_department_with_a_new_deadline(w):
    report = _case_in(w, "handled")
    first_deadline = report.deadline_at
    failed_at = w.advance(hours=5)
    answer = w.move(w.actor("supervisor"), report.id, "fail_verify", note="仍有垃圾",
                    photo_ids=[w.photo(w.actor("supervisor"))])
    assert answer.status_code == 201
    db.session.refresh(report)
    assert report.status == "dispatched" and report.department.code == "WATER"
    assert report.deadline_at == failed_at + timedelta(hours=24) != first_deadline


def test_closing_records_whether_the_case_was_closed_by_its_deadline(w):
    on_time = _case_in(w, "verified")
    assert on_time.closed_on_time is None
    w.walk(on_time.id, "closed")
    late = _case_in(w, "verified")
    w.set_time(late.deadline_at + timedelta(minutes=1))
    answer = w.move(w.actor("dispatcher"), late.id, "close")
    assert answer.get_json()["closed_on_time"] is False
    db.session.refresh(on_time)
    db.session.refresh(late)
    assert (on_time.closed_on_time, late.closed_on_time) == (True, False)


def test_a_move_made_on_a_version_the_client_no_longer_has_is_409(w):
    report = w.report()
    dispatcher = w.actor("dispatcher")
    seen = report.version
    w.move(dispatcher, report.id, "accept", expected_version=seen)
    answer = w.move(dispatcher, report.id, "dispatch", department="WATER",
                    expected_version=seen)
    assert answer.status_code == 409
    problem = answer.get_json()
    assert problem["type"].endswith("/stale_version")
    assert problem["version"] == seen + 1 and problem["allowed_actions"] == ["dispatch"]


def test_an_unknown_action_is_a_validation_error(w):
    report = w.report()
    answer = w.move(w.actor("dispatcher"), report.id, "teleport")
    assert answer.status_code == 422 and "action" in answer.get_json()["errors"]


def test_a_move_sent_again_after_a_lost_answer_replays_instead_of_failing(w):
    # 回告 from a basement: the department's answer is lost, the phone sends the move again.
    report = _case_in(w, "dispatched")
    handler = w.actor("dept_WATER", "department", department="WATER")
    body = {"photo_ids": [w.photo(handler)], "note": "已清理", "client_uuid": str(uuid.uuid4()),
            "expected_version": report.version}
    first = w.move(handler, report.id, "handle", **body)
    again = w.move(handler, report.id, "handle", **body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["step"]["seq"] == first.get_json()["step"]["seq"]
    assert again.get_json()["status"] == "handled"
    steps = db.session.scalars(select(CaseStep).where(CaseStep.report_id == report.id,
                                                      CaseStep.action == "handle")).all()
    assert len(steps) == 1
    # Without the client_uuid the same move is refused: the case has moved on.
    plain = {k: v for k, v in body.items() if k != "client_uuid"}
    assert w.move(handler, report.id, "handle", **plain).status_code == 409


def test_another_move_under_a_used_client_uuid_is_a_conflict(w):
    report = _case_in(w, "reported")
    other = _case_in(w, "reported")
    dispatcher = w.actor("dispatcher")
    key = str(uuid.uuid4())
    colleague = w.actor("dispatcher2", "dispatcher")
    assert w.move(dispatcher, report.id, "accept", client_uuid=key).status_code == 201
    for who, target, action, body in ((dispatcher, report.id, "reject", {"note": "不属实"}),
                                      (dispatcher, other.id, "accept", {}),
                                      (colleague, report.id, "accept", {})):
        answer = w.move(who, target, action, client_uuid=key, **body)
        assert answer.status_code == 409
        assert answer.get_json()["type"].endswith("/problems/conflict")
    db.session.refresh(other)
    assert other.status == "reported"


def test_a_case_outside_every_grid_is_placed_in_a_grid_at_dispatch_so_it_can_be_checked(w):
    lat, lon = w.factory.G1_CENTER
    report = w.report()
    report.grid_id = None  # as a report made just across the community's edge is stored
    db.session.commit()
    dispatcher, supervisor = w.actor("dispatcher"), w.actor("supervisor")
    handler = w.actor("dept_WATER", "department", department="WATER")
    assert w.move(dispatcher, report.id, "accept").status_code == 201
    refused = w.move(dispatcher, report.id, "dispatch", department="WATER")
    assert refused.status_code == 422 and "grid" in refused.get_json()["errors"]
    assert w.move(dispatcher, report.id, "dispatch", department="WATER",
                  grid="NOPE").status_code == 422
    placed = w.move(dispatcher, report.id, "dispatch", department="WATER", grid="G1")
    assert placed.status_code == 201, placed.get_json()
    db.session.refresh(report)
    assert report.grid.code == "G1"
    assert w.move(handler, report.id, "handle",
                  photo_ids=[w.photo(handler)]).status_code == 201
    checked = w.move(supervisor, report.id, "verify", location={"lat": lat, "lon": lon})
    assert checked.status_code == 201, checked.get_json()


def test_handling_with_another_users_photo_answers_as_one_not_uploaded_yet(w):
    """A department cannot pass off a worker's photo as its after-photo (and so read it)."""
    report = w.report()
    w.walk(report.id, "dispatched")
    dept = w.actor("dept_WATER")
    theirs = w.photo(w.actor("grid_worker_G2", "grid_worker", grids=("G2",)))
    answer = w.move(dept, report.id, "handle", photo_ids=[theirs])
    assert answer.status_code == 409
    assert answer.get_json()["type"] == "/problems/dependency_missing"
    assert answer.get_json()["missing"] == [{"kind": "photo", "client_uuid": theirs}]
    db.session.refresh(report)
    assert report.status == "dispatched"
