"""The timeline of a case: seed 004 replayed at its real times, stages, append-only steps."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.models import CaseStep
from server.services.case_timeline import format_duration
from tests.server.case_support import CaseWorld, local


@pytest.fixture
def w(factory, monkeypatch) -> CaseWorld:
    return CaseWorld(factory, monkeypatch)


def _timeline(w: CaseWorld, actor, report_id: int) -> dict:
    answer = w.client.get(f"/api/v1/reports/{report_id}/timeline", headers=actor.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_seed_004_case_replays_through_the_api_at_its_real_times(w):
    """赤壁 9月29日: reported 06:37, dispatched 08:33, handled 11:48, verified 14:10, closed."""
    # The article is from autumn 2019 (the 不忘初心 theme education it mentions).
    report = w.report(created_at=local(2019, 9, 29, 6, 37))
    dispatcher, supervisor = w.actor("dispatcher"), w.actor("supervisor")
    water = w.actor("water", "department", department="WATER")
    after_photo = w.photo(water)

    w.set_time(local(2019, 9, 29, 8, 33))
    assert w.move(dispatcher, report.id, "accept", note="核实受理,同意立案").status_code == 201
    assert w.move(dispatcher, report.id, "dispatch", department="WATER").status_code == 201
    w.set_time(local(2019, 9, 29, 11, 48))
    assert w.move(water, report.id, "handle", note="已处理完毕,现场干净整洁",
                  photo_ids=[after_photo]).status_code == 201
    w.set_time(local(2019, 9, 29, 14, 10))
    assert w.move(supervisor, report.id, "verify", note="现场核查完毕",
                  location=w.site()).status_code == 201
    w.set_time(local(2019, 9, 29, 14, 15))
    closed = w.move(dispatcher, report.id, "close", note="予以结案")
    assert closed.status_code == 201
    assert closed.get_json()["closed_on_time"] is True

    timeline = _timeline(w, dispatcher, report.id)
    stages = {s["stage"]: s for s in timeline["stages"]}
    assert [stages[k]["duration"] for k in ("dispatch", "handle", "verify")] == [
        "1 h 56 min", "3 h 15 min", "2 h 22 min"]
    assert stages["dispatch"]["seconds"] == 116 * 60
    assert stages["close"]["duration"] == "5 min"
    assert not any(s["open"] for s in timeline["stages"])
    steps = timeline["steps"]
    assert [s["action"] for s in steps] == ["report", "accept", "dispatch", "handle", "verify",
                                           "close"]
    assert [s["actor_role"] for s in steps] == ["grid_worker", "dispatcher", "dispatcher",
                                               "department", "supervisor", "dispatcher"]
    assert steps[1]["at"] == "2019-09-29T00:33:00+00:00"  # 08:33 in Asia/Shanghai
    assert steps[2]["department"] == "WATER"
    assert steps[3]["photo_ids"] == [after_photo] and steps[3]["note"] == "已处理完毕,现场干净整洁"
    assert steps[4]["location"]["lat"] == pytest.approx(w.site()["lat"])
    assert steps[4]["actor"]["username"] == supervisor.user.username
    assert timeline["status"] == "closed"


def test_time_in_a_stage_adds_up_every_pass_through_it(w):
    """A failed verification sends the case back; both handling passes count towards 处置."""
    report = w.report()
    dispatcher, supervisor = w.actor("dispatcher"), w.actor("supervisor")
    water = w.actor("water", "department", department="WATER")
    w.advance(minutes=10)
    w.move(dispatcher, report.id, "accept")
    w.move(dispatcher, report.id, "dispatch", department="WATER")
    w.advance(hours=2)
    w.move(water, report.id, "handle", photo_ids=[w.photo(water)])
    w.advance(hours=1)
    failed = w.move(supervisor, report.id, "fail_verify", note="垃圾仍在",
                    photo_ids=[w.photo(supervisor)])
    assert failed.status_code == 201
    w.advance(hours=3)
    w.move(water, report.id, "handle", photo_ids=[w.photo(water)])
    w.advance(minutes=30)

    timeline = _timeline(w, dispatcher, report.id)
    stages = {s["stage"]: s for s in timeline["stages"]}
    assert stages["handle"]["seconds"] == 5 * 3600
    assert stages["verify"]["seconds"] == 3600 + 1800  # first pass plus the open second one
    assert stages["verify"]["open"] is True and stages["verify"]["ended_at"] is None
    assert timeline["time_in_status"]["handled"] == 5400


def test_steps_already_written_never_change_as_the_case_moves_on(w):
    report = w.report()
    dispatcher = w.actor("dispatcher")
    w.advance(minutes=5)
    w.move(dispatcher, report.id, "accept", note="first")
    before = _timeline(w, dispatcher, report.id)["steps"]
    w.advance(minutes=5)
    w.move(dispatcher, report.id, "dispatch", department="URBAN")
    after = _timeline(w, dispatcher, report.id)["steps"]
    assert after[:len(before)] == before
    rows = db.session.execute(select(CaseStep.seq, CaseStep.action).where(
        CaseStep.report_id == report.id).order_by(CaseStep.seq)).all()
    assert [tuple(r) for r in rows] == [(1, "accept"), (2, "dispatch")]


def test_timeline_of_a_case_outside_my_scope_is_not_found(w):
    report = w.report(grid="G1")
    other_worker = w.actor("g2_worker", "grid_worker", grids=("G2",))
    answer = w.client.get(f"/api/v1/reports/{report.id}/timeline", headers=other_worker.headers)
    assert answer.status_code == 404
    assert answer.get_json()["type"].endswith("/not_found")


def test_department_reads_the_timeline_of_a_case_dispatched_to_it(w):
    report = w.report()
    w.walk(report.id, "dispatched", dept="WATER")
    water = w.actor("dept_WATER")
    urban = w.actor("urban", "department", department="URBAN")
    assert _timeline(w, water, report.id)["department"] == "WATER"
    assert w.client.get(f"/api/v1/reports/{report.id}/timeline",
                        headers=urban.headers).status_code == 404


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 min"), (45 * 60, "45 min"), (116 * 60, "1 h 56 min"), (26 * 3600 + 60, "1 d 2 h 1 min"),
])
def test_durations_read_as_hours_and_minutes(seconds, text):
    assert format_duration(seconds) == text


def test_the_demo_replays_seed_004_and_a_second_run_changes_nothing(app, monkeypatch):
    from server import demo
    from server.demo import workflow as demo_workflow
    from server.models import Report, User
    from server.services.access import access_for
    from server.services.case_timeline import build_timeline

    monkeypatch.setattr(demo, "_demo_extensions", lambda: [demo_workflow.seed])
    monkeypatch.setattr(demo_workflow, "HISTORY_CASES", 16)
    lines = list(demo.seed_demo())
    assert any("Worked example: case" in line and "replayed through the case flow: reported "
               "06:37, accepted and dispatched 08:33, handled 11:48, verified 14:10, closed "
               "14:25." in line for line in lines), lines
    def counts() -> tuple[int, int]:
        return (db.session.scalar(select(func.count()).select_from(Report)),
                db.session.scalar(select(func.count()).select_from(CaseStep)))

    before = counts()
    with db.engine.connect() as other:  # seed_demo is its own boundary: it committed
        assert other.scalar(select(func.count()).select_from(CaseStep)) == before[1]
    again = list(demo.seed_demo())
    assert any(line.startswith("Worked example: case") and line.endswith(", kept.")
               for line in again), again
    assert counts() == before

    case = db.session.scalar(select(Report).where(Report.description.like("%种子 004%")))
    dispatcher = db.session.scalar(select(User).where(User.username == "zhihui"))
    timeline = build_timeline(db.session, access_for(db.session, dispatcher), case.id)
    assert [s["duration"] for s in timeline["stages"]][:3] == ["1 h 56 min", "3 h 15 min",
                                                               "2 h 22 min"]
    assert timeline["status"] == "closed" and timeline["closed_on_time"] is True
    assert before[1] > 16  # the history cases went through the workflow too
