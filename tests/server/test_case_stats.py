"""Case figures: the funnel and rates of a generated quarter, the ranking, time per stage."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from server.extensions import db
from server.models import CaseStep, Department, Report
from tests.server.case_support import CaseWorld, local


@pytest.fixture
def w(factory, monkeypatch) -> CaseWorld:
    return CaseWorld(factory, monkeypatch)


class _Rows:
    """Report rows for a core bulk insert (no ORM objects, so thousands go in fast)."""

    def __init__(self, w: CaseWorld) -> None:
        grid = w.factory.grid("G1")
        self.grid_id, self.community_id = grid.id, grid.community_id
        self.reporter_id = w.actor("grid_worker").id

    def plain(self, created: datetime, **case: Any) -> dict[str, Any]:
        """A report made at ``created``, with workflow columns from ``case``."""
        return {"client_uuid": str(uuid.uuid4()), "body_sha256": "0" * 64,
                "reporter_id": self.reporter_id, "community_id": self.community_id,
                "grid_id": self.grid_id, "category_code": "garbage", "description": "",
                "lat": 28.802, "lon": 113.074, "input_crs": "wgs84", "captured_at": created,
                "created_at": created, "updated_at": created, "flags": [], "status": "reported",
                "version": 1, "department_id": None, "deadline_at": None, "accepted_at": None,
                "dispatched_at": None, "closed_at": None, "closed_on_time": None, **case}

    def dispatched(self, created: datetime, dept_id: int, *, closed: bool,
                   on_time: bool = True) -> dict[str, Any]:
        """A case dispatched an hour after it was made, with 24 h to handle it."""
        dispatched = created + timedelta(hours=1)
        deadline = dispatched + timedelta(hours=24)
        closed_at = deadline + timedelta(hours=-1 if on_time else 1)
        return self.plain(created, status="closed" if closed else "dispatched",
                          department_id=dept_id, accepted_at=dispatched,
                          dispatched_at=dispatched, deadline_at=deadline,
                          closed_at=closed_at if closed else None,
                          closed_on_time=on_time if closed else None)


def _insert(rows: list[dict[str, Any]]) -> list[int]:
    db.session.execute(insert(Report), rows)
    db.session.commit()
    uuids = [r["client_uuid"] for r in rows]
    found = dict(db.session.execute(select(Report.client_uuid, Report.id)).all())
    return [found[u] for u in uuids]


def _stats(w: CaseWorld, actor, **query: str) -> dict[str, Any]:
    answer = w.client.get("/api/v1/stats/cases", query_string=query, headers=actor.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _dept(code: str) -> int:
    found = db.session.scalar(select(Department.id).where(Department.code == code))
    if found is None:
        dept = Department(code=code, name=f"{code}局")
        db.session.add(dept)
        db.session.commit()
        found = dept.id
    return found


def test_a_quarter_of_7534_reports_7389_dispatched_6967_closed_is_94_29_percent_disposal(w):
    """Seed 004: "7534 reported, 7389 dispatched, 6967 closed: disposal rate 94.29 %"."""
    water, urban, make = _dept("WATER"), _dept("URBAN"), _Rows(w)
    first = local(2026, 7, 1, 0, 30)  # 30 minutes into the quarter in Asia/Shanghai (UTC: June)
    rows, rejected = [], []
    for i in range(7534):
        created = first + timedelta(minutes=17 * i)
        if i < 7389:
            rows.append(make.dispatched(created, (water, urban)[i % 2], closed=i < 6967,
                                        on_time=i % 10 != 0))
        elif i < 7389 + 45:
            rows.append(make.plain(created, status="accepted", accepted_at=created))
        else:
            rows.append(make.plain(created, status="rejected"))
            rejected.append(len(rows) - 1)
    # Just outside the quarter on either side, in local time.
    rows.append(make.dispatched(local(2026, 6, 30, 23, 59), water, closed=True))
    rows.append(make.dispatched(local(2026, 10, 1, 0, 0), water, closed=False))
    ids = _insert(rows)
    db.session.execute(insert(CaseStep), [
        {"report_id": ids[i], "seq": 1, "action": "reject", "from_status": "reported",
         "to_status": "rejected", "actor_role": "dispatcher", "note": "不属实", "photo_ids": [],
         "at": rows[i]["created_at"] + timedelta(minutes=30)} for i in rejected])
    db.session.commit()

    figures = _stats(w, w.actor("dispatcher"), **{"from": "2026-07-01", "to": "2026-09-30"})
    assert (figures["reported"], figures["accepted"], figures["rejected"]) == (7534, 7434, 100)
    assert (figures["dispatched"], figures["closed"]) == (7389, 6967)
    assert figures["disposal_rate"] == 0.9429
    assert f"{figures['disposal_rate'] * 100:.2f} %" == "94.29 %"
    on_time = 6967 - len(range(0, 6967, 10))
    assert figures["closed_on_time"] == on_time == 6270
    assert figures["on_time_rate"] == round(6270 / 7389, 4)
    assert figures["overdue_open"] == 7389 - 6967
    # WATER has the even cases: 3484 closed of 3695 (94.290 %); URBAN 3483 of 3694 (94.288 %).
    ranking = [(d["code"], d["dispatched"], d["closed"]) for d in figures["departments"]]
    assert ranking == [("WATER", 3695, 3484), ("URBAN", 3694, 3483)]


# Hand-computed ranking: (code, dispatched, closed, closed on time) and the expected order.
RANKING_FIXTURE = [
    ("WATER", 10, 9, 6),  # 90 %, 60 %
    ("URBAN", 4, 4, 2),  # 100 %, 50 %: best disposal rate wins although its on-time rate is low
    ("HOUSING", 20, 18, 15),  # 90 %, 75 %: ties WATER on disposal, wins on on-time
    ("POWER", 3, 2, 2),  # 66.67 %, 66.67 %
    ("TRAFFIC", 6, 4, 4),  # 66.67 %, 66.67 %: ties POWER on both rates, more cases dispatched
]
EXPECTED_ORDER = ["URBAN", "HOUSING", "WATER", "TRAFFIC", "POWER"]


def test_departments_are_ranked_by_disposal_rate_then_on_time_rate(w):
    rows, make = [], _Rows(w)
    created = local(2026, 10, 5, 9, 0)
    for code, dispatched, closed, on_time in RANKING_FIXTURE:
        dept = _dept(code)
        for i in range(dispatched):
            rows.append(make.dispatched(created, dept, closed=i < closed, on_time=i < on_time))
    _insert(rows)
    figures = _stats(w, w.actor("dispatcher"), **{"from": "2026-10-01", "to": "2026-10-31"})
    ranking = figures["departments"]
    assert [d["code"] for d in ranking] == EXPECTED_ORDER
    assert [d["rank"] for d in ranking] == [1, 2, 3, 4, 5]
    by_code = {d["code"]: d for d in ranking}
    assert (by_code["HOUSING"]["disposal_rate"], by_code["HOUSING"]["on_time_rate"]) == (0.9,
                                                                                          0.75)
    assert by_code["POWER"]["disposal_rate"] == 0.6667
    assert by_code["URBAN"]["name"] == "城管局"


def test_median_and_90th_percentile_time_per_stage_match_a_hand_computation(w):
    """Same answer on both databases: percentile_cont on PostgreSQL, Python on SQLite."""
    dispatch_min = [10, 20, 30, 40, 100]
    handle_h = [1, 2, 3, 4, 5]
    verify_min = [30, 60, 90, 120]
    close_min = [5, 10, 15]
    dispatcher, supervisor = w.actor("dispatcher"), w.actor("supervisor")
    water = w.actor("water", "department", department="WATER")
    for i in range(5):
        w.set_time(local(2026, 11, 10, 8, 0) + timedelta(hours=12 * i))
        report = w.report()
        w.advance(minutes=dispatch_min[i])
        w.move(dispatcher, report.id, "accept")
        w.move(dispatcher, report.id, "dispatch", department="WATER")
        w.advance(hours=handle_h[i])
        w.move(water, report.id, "handle", photo_ids=[w.photo(water)])
        if i < len(verify_min):
            w.advance(minutes=verify_min[i])
            assert w.move(supervisor, report.id, "verify", location=w.site()).status_code == 201
        if i < len(close_min):
            w.advance(minutes=close_min[i])
            w.move(dispatcher, report.id, "close")
    w.set_time(local(2026, 11, 20, 12, 0))
    stages = {s["stage"]: s for s in _stats(w, dispatcher, **{"from": "2026-11-10",
                                                               "to": "2026-11-16"})["stages"]}
    assert [stages[k]["cases"] for k in ("dispatch", "handle", "verify", "close")] == [5, 5, 4, 3]
    assert (stages["dispatch"]["median_s"], stages["dispatch"]["p90_s"]) == (1800, 76 * 60)
    assert (stages["handle"]["median_s"], stages["handle"]["p90_s"]) == (3 * 3600, 4.6 * 3600)
    assert (stages["verify"]["median_s"], stages["verify"]["p90_s"]) == (75 * 60, 111 * 60)
    assert (stages["close"]["median_s"], stages["close"]["p90_s"]) == (600, 840)
    assert stages["handle"]["name_zh"] == "处置"


def test_figures_stay_in_my_scope_and_can_be_narrowed_to_a_community(w):
    _insert([_Rows(w).dispatched(local(2026, 11, 2, 10, 0), _dept("WATER"), closed=True)])
    secretary = w.actor("secretary")
    assert _stats(w, secretary, **{"from": "2026-11-01", "to": "2026-11-30"})["closed"] == 1
    assert _stats(w, w.actor("dispatcher"), **{"from": "2026-11-01", "to": "2026-11-30",
                                               "community": "ELSEWHERE"})["reported"] == 0
    worker = w.client.get("/api/v1/stats/cases", headers=w.actor("grid_worker").headers)
    assert worker.status_code == 403
    backwards = w.client.get("/api/v1/stats/cases?from=2026-11-30&to=2026-11-01",
                             headers=secretary.headers)
    assert backwards.status_code == 422


def test_figures_without_dates_cover_the_last_30_local_days(w):
    w.set_time(local(2026, 11, 22, 10, 0))
    make = _Rows(w)
    _insert([make.dispatched(local(2026, 10, 24, 0, 10), _dept("WATER"), closed=False),
             make.dispatched(local(2026, 10, 23, 23, 50), _dept("WATER"), closed=False)])
    figures = _stats(w, w.actor("dispatcher"))
    assert (figures["from"], figures["to"], figures["reported"]) == ("2026-10-24", "2026-11-22",
                                                                    1)
