"""A case's timeline: every step with who, when and what, and the time spent in each stage.

The stages are the ones the command centre reports on: 受理派单 (reported until dispatched),
处置 (dispatched until handled), 核查 (handled until verified), 结案 (verified until closed).
Time in a stage is the sum of the time spent in its states, so a case that goes round again
(退单, 核查不通过) adds each pass to the stage it was in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.reports import FINAL_STATUSES
from server.models import CaseStep, Department, Report, User
from server.services import cases
from server.services.access import Access
from server.services.escalation import is_overdue
from server.services.reports import get_report

__all__ = ["STAGES", "STAGE_OF_STATUS", "build_timeline", "step_views", "format_duration",
           "case_view"]

# (stage, Chinese name, the states whose time counts towards it)
STAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("dispatch", "受理派单", ("reported", "accepted")),
    ("handle", "处置", ("dispatched",)),
    ("verify", "核查", ("handled",)),
    ("close", "结案", ("verified",)),
)
STAGE_OF_STATUS = {status: stage for stage, _zh, statuses in STAGES for status in statuses}


def format_duration(seconds: float) -> str:
    """A duration as people say it: ``1 h 56 min``, ``45 min``, ``2 d 3 h 0 min``."""
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {mins} min"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def _people(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def _departments(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Department.id, Department.code).where(
        Department.id.in_(wanted)))
    return {dept_id: code for dept_id, code in rows}


def _actor(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "display_name": user.display_name}


def step_views(session: Session, steps: list[CaseStep]) -> list[dict[str, Any]]:
    """Steps as the API shows them: actor, department code, location."""
    people = _people(session, (s.actor_id for s in steps))
    depts = _departments(session, (s.department_id for s in steps))
    return [{
        "seq": s.seq, "action": s.action, "from_status": s.from_status,
        "to_status": s.to_status, "at": s.at, "actor": _actor(people.get(s.actor_id or -1)),
        "actor_role": s.actor_role, "note": s.note,
        "department": depts.get(s.department_id) if s.department_id else None,
        "photo_ids": list(s.photo_ids or []),
        "location": {"lat": s.lat, "lon": s.lon} if s.lat is not None else None,
        "deadline_at": s.deadline_at,
    } for s in steps]


def case_view(session: Session, report: Report, now: datetime) -> dict[str, Any]:
    """The workflow state of a case as the API shows it."""
    dept = session.get(Department, report.department_id) if report.department_id else None
    return {
        "report_id": report.id, "status": report.status, "version": report.version,
        "department": dept.code if dept else None, "deadline_at": report.deadline_at,
        "overdue": is_overdue(report, now), "escalated_at": report.escalated_at,
        "closed_on_time": report.closed_on_time,
        "allowed_actions": cases.allowed_actions(report.status),
    }


def _report_step(report: Report, reporter: User | None) -> dict[str, Any]:
    """The report itself, shown as step 0 (it is made by the reports API, not a move)."""
    return {
        "seq": 0, "action": "report", "from_status": None, "to_status": "reported",
        "at": report.created_at, "actor": _actor(reporter),
        "actor_role": reporter.role if reporter else None, "note": report.description,
        "department": None, "photo_ids": [p.id for p in report.photos],
        "location": {"lat": report.lat, "lon": report.lon}, "deadline_at": None,
    }


def _intervals(report: Report, steps: list[CaseStep],
               now: datetime) -> list[tuple[str, datetime, datetime | None, float]]:
    """(state, entered, left or None if still in it, seconds) for each stay in a state."""
    out: list[tuple[str, datetime, datetime | None, float]] = []
    entered, state = report.created_at, "reported"
    for step in steps:
        out.append((step.from_status, entered, step.at, (step.at - entered).total_seconds()))
        entered, state = step.at, step.to_status
    if state not in FINAL_STATUSES:
        out.append((state, entered, None, max((now - entered).total_seconds(), 0.0)))
    return out


def _stages(intervals: list[tuple[str, datetime, datetime | None, float]],
            ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    in_status: dict[str, float] = {}
    for state, _start, _end, seconds in intervals:
        in_status[state] = in_status.get(state, 0.0) + seconds
    stages = []
    for stage, name_zh, statuses in STAGES:
        mine = [iv for iv in intervals if iv[0] in statuses]
        if not mine:
            continue
        still_open = any(iv[2] is None for iv in mine)
        seconds = sum(iv[3] for iv in mine)
        stages.append({"stage": stage, "name_zh": name_zh, "started_at": mine[0][1],
                       "ended_at": None if still_open else mine[-1][2], "seconds": seconds,
                       "duration": format_duration(seconds), "open": still_open})
    return stages, in_status


def build_timeline(session: Session, access: Access, report_id: int, *,
                   now: datetime | None = None) -> dict[str, Any]:
    """The timeline of a case the user may read (404 otherwise)."""
    report = get_report(session, access, report_id)
    when = now or cases.now()
    steps = list(session.scalars(select(CaseStep).where(
        CaseStep.report_id == report.id).order_by(CaseStep.seq)))
    reporter = session.get(User, report.reporter_id)
    stages, in_status = _stages(_intervals(report, steps, when))
    return {**case_view(session, report, when),
            "steps": [_report_step(report, reporter), *step_views(session, steps)],
            "stages": stages, "time_in_status": in_status}
