"""How long the case figures take on a city's quarter (7,534 reports), and on one ten times busier.

Usage: python bench/case_stats.py [postgresql://user@host/db] [--runs 7]
       (default: a temporary SQLite file; with a URL, a database gridwork_bench_cases on
       that server, made and dropped by the bench)

Builds N reports with their five workflow steps (core bulk inserts), then times
GET /api/v1/stats/cases's service (counts, stage percentiles, department ranking), the weekly
report and the escalation scan that every queue read runs: the median and the worst of
--runs warm samples each (never the best), and each against its baseline measured in the
same run, a ``count(*)`` over the same reports (the quarter's, or the week's), with the
machine's load average.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, own_database, samples_ms, summary  # noqa: E402
from server import create_app  # noqa: E402
from server.extensions import db  # noqa: E402
from server.models import CaseStep, Category, Community, Department, Grid, Report, User  # noqa: E402
from server.services.case_stats import case_stats  # noqa: E402
from server.services.escalation import escalate_overdue  # noqa: E402
from server.services.weekly import week_bounds, weekly_report  # noqa: E402
from tests.dbsetup import make_test_database  # noqa: E402 - a throwaway schema on PostgreSQL

START = datetime(2026, 7, 1, tzinfo=UTC)
STEPS = ("accept", "dispatch", "handle", "verify", "close")
FLOW = ("reported", "accepted", "dispatched", "handled", "verified", "closed")


def _world() -> tuple[int, int, int, list[int]]:
    community = Community(code="B1", name="bench")
    db.session.add(community)
    db.session.flush()
    grid = Grid(community_id=community.id, code="BG1", name="g", boundary={}, min_lat=28.8,
                min_lon=113.07, max_lat=28.81, max_lon=113.08)
    user = User(username="bench", display_name="b", role="grid_worker", password_hash="x")
    depts = [Department(code=f"D{i}", name=f"局{i}") for i in range(8)]
    db.session.add_all([grid, user, *depts,
                        Category(code="garbage", name_zh="垃圾", name_en="g", sla_hours=24)])
    db.session.commit()
    return community.id, grid.id, user.id, [d.id for d in depts]


def _fill(n: int) -> None:
    community_id, grid_id, user_id, depts = _world()
    rng = random.Random(7)
    reports: list[dict[str, Any]] = []
    plans = []
    for i in range(n):
        created = START + timedelta(minutes=i * 91 * 24 * 60 / n)
        times = [created]
        for _ in STEPS:
            times.append(times[-1] + timedelta(minutes=rng.uniform(5, 600)))
        done = 5 if i % 100 < 92 else rng.randrange(0, 5)
        deadline = times[2] + timedelta(hours=24)
        reports.append({
            "client_uuid": str(uuid.uuid4()), "body_sha256": "0" * 64, "reporter_id": user_id,
            "community_id": community_id, "grid_id": grid_id, "category_code": "garbage",
            "description": "", "lat": 28.805, "lon": 113.075, "input_crs": "wgs84",
            "captured_at": created, "created_at": created, "updated_at": created, "flags": [],
            "status": FLOW[done], "version": done + 1,
            "department_id": depts[i % len(depts)] if done >= 2 else None,
            "accepted_at": times[1] if done >= 1 else None,
            "dispatched_at": times[2] if done >= 2 else None,
            "deadline_at": deadline if done >= 2 else None,
            "handled_at": times[3] if done >= 3 else None,
            "verified_at": times[4] if done >= 4 else None,
            "closed_at": times[5] if done >= 5 else None,
            "closed_on_time": times[5] <= deadline if done >= 5 else None,
            "escalated_at": START if done in (2, 3, 4) else None})
        plans.append((times, done))
    db.session.execute(insert(Report), reports)
    db.session.commit()
    ids = db.session.scalars(select(Report.id).order_by(Report.id)).all()
    steps = [{"report_id": rid, "seq": k + 1, "action": STEPS[k], "from_status": FLOW[k],
              "to_status": FLOW[k + 1], "actor_id": user_id, "actor_role": "dispatcher",
              "at": times[k + 1], "note": "", "photo_ids": []}
             for rid, (times, done) in zip(ids, plans, strict=True) for k in range(done)]
    for chunk in range(0, len(steps), 20_000):
        db.session.execute(insert(CaseStep), steps[chunk:chunk + 20_000])
    db.session.commit()


def _timed(label: str, func: Any, runs: int, baseline: list[float]) -> Any:
    """Print the median and worst of ``runs`` warm samples and their ratios to ``baseline``."""
    result = func()
    times = samples_ms(func, runs, warm=0, after=db.session.rollback)
    base = statistics.median(baseline)
    print(f"  {label:<46} {summary(times)}  = {statistics.median(times) / base:6.1f}x / "
          f"{max(times) / base:6.1f}x the count(*)")
    return result


def _count_baseline(label: str, start: datetime, end: datetime, runs: int) -> list[float]:
    """``count(*)`` over the reports made in [start, end): what any figure must at least read."""
    query = select(func.count()).select_from(Report).where(
        Report.created_at >= start, Report.created_at < end)
    n = db.session.scalar(query)
    times = samples_ms(lambda: db.session.scalar(query), runs, after=db.session.rollback)
    print(f"  {'baseline: count(*) of ' + label + f' ({n:,} rows)':<46} {summary(times)}")
    return times


def run(n: int, runs: int) -> None:
    """Fill a fresh database with ``n`` cases and print the timings."""
    with tempfile.TemporaryDirectory() as tmp:
        database = make_test_database(Path(tmp))
        database.create()
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE_DIR": tmp,
                          "DATABASE_URL": database.url})
        with app.app_context():
            db.create_all()
            start = time.perf_counter()
            _fill(n)
            print(f"{db.engine.dialect.name}, {n:,} reports "
                  f"(filled in {time.perf_counter() - start:.1f} s):")
            now = START + timedelta(days=120)
            print(f"  {load_average()}")
            quarter = _count_baseline("the quarter", START, START + timedelta(days=91), runs)
            stats = _timed("case_stats (a quarter: counts, p50/p90, ranking)", lambda: case_stats(
                db.session, None, first=START.date(), last=(START + timedelta(days=91)).date(),
                now=now), runs, quarter)
            week = _count_baseline("the week", *week_bounds("2026-W30"), runs)
            _timed("weekly_report 2026-W30", lambda: weekly_report(db.session, None, "2026-W30",
                                                                   now=now), runs, week)
            _timed("escalation scan, nothing due", lambda: escalate_overdue(db.session, now=now),
                   runs, quarter)
            print(f"  disposal rate {stats['disposal_rate']:.2%}, "
                  f"median handle {stats['stages'][1]['median_s'] / 3600:.2f} h; {load_average()}")
            db.session.remove()
            db.engine.dispose()
        database.drop()


def main() -> None:
    """Run on SQLite (or the PostgreSQL URL given) at 7,534 and 75,340 reports a quarter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="a PostgreSQL server's URL: the bench makes "
                        "and drops a database of its own there, gridwork_bench_cases")
    parser.add_argument("--runs", type=int, default=7, help="timed samples per figure")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.url:  # a database of the bench's own, never the shared test database
            own = stack.enter_context(own_database(args.url, "gridwork_bench_cases"))
            os.environ["GRIDWORK_TEST_DATABASE_URL"] = own
        for n in (7_534, 75_340):
            run(n, args.runs)


if __name__ == "__main__":
    main()
