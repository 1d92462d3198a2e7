"""Case figures (GET /api/v1/stats/cases): the funnel, the rates, time per stage, the ranking.

A period's figures are about the reports made in it (a cohort), counted as they stood at
``as_of`` (now, or the end of a past week), so a past week's report never changes:
- reported (受理上报), accepted (立案), rejected (不予立案), dispatched (派单), closed (结案);
- disposal rate 处置率 = closed / dispatched (the 结案率 = 结案数 / 应结案数 of GB/T 30428);
- on-time rate 按期结案率 = closed by the deadline / dispatched;
- median and 90th percentile time per stage, from the steps (a LAG window over each case);
- departments ranked by disposal rate, then on-time rate, then cases dispatched.

Counting is done in SQL. Percentiles: PostgreSQL computes them with ``percentile_cont``;
SQLite has no ordered-set aggregates, so there the per-case stage durations (one column,
computed in SQL) are fetched and the same linear interpolation is done in Python.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    exists,
    extract,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from server.models import CaseStep, Community, Department, Grid, Report
from server.services import cases
from server.services.access import Access
from server.services.case_timeline import STAGE_OF_STATUS, STAGES
from server.services.scopes import stats_scope

__all__ = ["LOCAL_TZ", "day_range", "community_clause", "figures",
           "grouped_figures", "department_ranking", "stage_times", "percentile",
           "case_stats", "rate"]

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_COUNT_KEYS = ("reported", "accepted", "rejected", "dispatched", "closed", "closed_on_time",
               "overdue_open")


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of the local days ``first`` to ``last``, both included."""
    start = datetime.combine(first, time(0), tzinfo=LOCAL_TZ)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def community_clause(session: Session, code: str | None) -> ColumnElement[bool]:
    """SQL: reports of the community ``code`` (all when ``None``; none if unknown)."""
    if not code:
        return true()
    community_id = session.scalar(select(Community.id).where(Community.code == code))
    return false() if community_id is None else Report.community_id == community_id


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 places (0.9429 is 94.29 %), ``None`` when nothing is due."""
    return round(part / whole, 4) if whole else None


def _count_columns(as_of: datetime) -> list[Any]:
    def count_if(condition: ColumnElement[bool]) -> Any:
        return func.count(case((condition, 1)))

    rejected = exists().where(CaseStep.report_id == Report.id, CaseStep.action == "reject",
                              CaseStep.at <= as_of)
    return [
        func.count(Report.id).label("reported"),
        count_if(Report.accepted_at <= as_of).label("accepted"),
        # Rejection is final: only a rejected report can have a reject step (cheap test first).
        count_if(and_(Report.status == "rejected", rejected)).label("rejected"),
        count_if(Report.dispatched_at <= as_of).label("dispatched"),
        count_if(Report.closed_at <= as_of).label("closed"),
        count_if(and_(Report.closed_at <= as_of, Report.closed_on_time.is_(True))
                 ).label("closed_on_time"),
        count_if(and_(Report.dispatched_at <= as_of, Report.deadline_at < as_of,
                      or_(Report.closed_at.is_(None), Report.closed_at > as_of))
                 ).label("overdue_open"),
    ]


def _with_rates(counts: dict[str, Any]) -> dict[str, Any]:
    counts["disposal_rate"] = rate(counts["closed"], counts["dispatched"])
    counts["on_time_rate"] = rate(counts["closed_on_time"], counts["dispatched"])
    return counts


def figures(session: Session, where: ColumnElement[bool], as_of: datetime) -> dict[str, Any]:
    """Counts and rates of the reports matching ``where``, as they stood at ``as_of``."""
    row = session.execute(select(*_count_columns(as_of)).where(where)).one()
    return _with_rates({key: int(getattr(row, key) or 0) for key in _COUNT_KEYS})


def grouped_figures(session: Session, where: ColumnElement[bool], as_of: datetime,
                    by: str) -> list[dict[str, Any]]:
    """Figures per ``department`` (dispatched cases) or per ``grid``, with code and name."""
    model, key = (Department, Report.department_id) if by == "department" else (Grid,
                                                                                Report.grid_id)
    if by == "department":
        where = and_(where, Report.department_id.is_not(None), Report.dispatched_at <= as_of)
    query = (select(key.label("key"), model.code, model.name, *_count_columns(as_of))
             .select_from(Report).outerjoin(model, model.id == key).where(where)
             .group_by(key, model.code, model.name))
    out = []
    for row in session.execute(query):
        counts = {k: int(getattr(row, k) or 0) for k in _COUNT_KEYS}
        out.append(_with_rates({"code": row.code, "name": row.name, "rank": None, **counts}))
    out.sort(key=lambda r: (r["code"] is None, r["code"] or ""))
    return out


def department_ranking(session: Session, where: ColumnElement[bool],
                       as_of: datetime) -> list[dict[str, Any]]:
    """Departments by disposal rate, then on-time rate, then cases dispatched, then code."""
    rows = grouped_figures(session, where, as_of, "department")

    def order(r: dict[str, Any]) -> tuple[Fraction, Fraction, int, str]:
        # Exact fractions: 2/3 and 4/6 tie, as a person ranking by hand would have them.
        return (-Fraction(r["closed"], r["dispatched"]),
                -Fraction(r["closed_on_time"], r["dispatched"]), -r["dispatched"], r["code"])

    rows.sort(key=order)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear-interpolated percentile of ``values``, as PostgreSQL's ``percentile_cont``."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "postgresql":
        return cast(extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def stage_times(session: Session, where: ColumnElement[bool],
                as_of: datetime) -> list[dict[str, Any]]:
    """Median and 90th percentile seconds per stage over the cases that spent time in it."""
    dialect = session.get_bind().dialect.name
    previous = func.lag(CaseStep.at).over(partition_by=CaseStep.report_id,
                                          order_by=CaseStep.seq)
    # The time before a step was spent in the step's from_status; before the first step,
    # since the report was made.
    span = _seconds(dialect, CaseStep.at, func.coalesce(previous, Report.created_at))
    stage = case(STAGE_OF_STATUS, value=CaseStep.from_status, else_=None)
    spans = (select(CaseStep.report_id, stage.label("stage"), span.label("secs"))
             .join(Report, Report.id == CaseStep.report_id)
             .where(where, CaseStep.at <= as_of).subquery())
    per_case = (select(spans.c.stage, func.sum(spans.c.secs).label("secs"))
                .where(spans.c.stage.is_not(None))
                .group_by(spans.c.report_id, spans.c.stage).subquery())
    found: dict[str, tuple[int, float | None, float | None]] = {}
    if dialect == "postgresql":
        query = select(per_case.c.stage, func.count(),
                       func.percentile_cont(0.5).within_group(per_case.c.secs),
                       func.percentile_cont(0.9).within_group(per_case.c.secs)
                       ).group_by(per_case.c.stage)
        for name, count, median, p90 in session.execute(query):
            found[name] = (int(count), float(median), float(p90))
    else:
        values: dict[str, list[float]] = {}
        for name, secs in session.execute(select(per_case.c.stage, per_case.c.secs)):
            values.setdefault(name, []).append(float(secs))
        for name, secs_list in values.items():
            found[name] = (len(secs_list), percentile(secs_list, 0.5),
                           percentile(secs_list, 0.9))
    out = []
    for name, name_zh, _statuses in STAGES:
        count, median, p90 = found.get(name, (0, None, None))
        out.append({"stage": name, "name_zh": name_zh, "cases": count,
                    "median_s": None if median is None else round(median, 1),
                    "p90_s": None if p90 is None else round(p90, 1)})
    return out


def case_stats(session: Session, access: Access | None, *, first: date, last: date,
               community: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The figures of the reports made from ``first`` to ``last`` (local days, included)."""
    start, end = day_range(first, last)
    as_of = now or cases.now()
    where = and_(stats_scope(access), community_clause(session, community),
                 Report.created_at >= start, Report.created_at < end)
    return {"from_": first, "to": last, "community": community, "as_of": as_of,
            **figures(session, where, as_of), "stages": stage_times(session, where, as_of),
            "departments": department_ranking(session, where, as_of)}
