"""Deadlines: a case past its deadline is overdue; a department's overdue case escalates.

Escalation appends an ``escalate`` step to the timeline, stamps ``escalated_at`` and sends the
department's webhook. It runs every minute as the job ``cases.escalate`` of ``gridwork worker``
(``server.jobs.tasks``, the city tier), from ``gridwork cases escalate`` (cron) and, lazily,
whenever a queue is read, so a deployment without a worker or cron still escalates. A case
escalates once per deadline: a new deadline (after a failed verification) can escalate again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from server.models import CaseStep, Report
from server.services import cases
from server.transactions import after_commit

__all__ = ["overdue_clause", "is_overdue", "escalate_overdue"]

SYSTEM_ROLE = "system"


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: the case's deadline runs and has passed at ``now``."""
    return and_(Report.status.in_(cases.DEADLINE_STATUSES), Report.deadline_at.is_not(None),
                Report.deadline_at < now)


def is_overdue(report: Report, now: datetime) -> bool:
    """Whether ``report`` is past its deadline and not closed."""
    return (report.status in cases.DEADLINE_STATUSES and report.deadline_at is not None
            and report.deadline_at < now)


def _escalate_one(session: Session, report_id: int, when: datetime) -> bool:
    """Escalate one case in a savepoint of its own; False if it moved on meanwhile."""
    from server.services import webhooks

    report = session.get(Report, report_id, populate_existing=True)
    if (report is None or report.status != "dispatched" or report.escalated_at is not None
            or report.deadline_at is None or report.deadline_at >= when):
        return False
    seq = cases.next_seq(session, report.id)
    overdue_h = (when - report.deadline_at).total_seconds() / 3600
    try:
        with session.begin_nested():
            report.escalated_at = when
            session.flush()  # the version check: a department's reply meanwhile wins
            step = CaseStep(report_id=report.id, seq=seq, action=cases.ESCALATE,
                            from_status=report.status, to_status=report.status,
                            actor_id=None, actor_role=SYSTEM_ROLE, at=when,
                            department_id=report.department_id,
                            deadline_at=report.deadline_at, photo_ids=[],
                            note=f"超期 {overdue_h:.1f} h: the deadline "
                                 f"{report.deadline_at.isoformat()} has passed.")
            session.add(step)
            session.flush()
            queued = webhooks.enqueue(session, report, step)
    except (StaleDataError, IntegrityError):
        return False
    if queued:
        after_commit(session, webhooks.notify)
    return True


def escalate_overdue(session: Session, *, now: datetime | None = None,
                     limit: int = 500) -> list[int]:
    """Escalate dispatched cases past their deadline; return the ids escalated."""
    when = now or cases.now()
    ids = list(session.scalars(select(Report.id).where(
        Report.status == "dispatched", Report.escalated_at.is_(None),
        Report.deadline_at.is_not(None), Report.deadline_at < when,
    ).order_by(Report.deadline_at).limit(limit)))
    if not ids:
        return []
    return [rid for rid in ids if _escalate_one(session, rid, when)]
