"""Work queues (``GET /api/v1/reports?queue=mine``): each role's next cases.

- dispatcher (指挥中心): reports to accept, returned cases to dispatch again, verified cases to
  close, and every overdue case (to chase);
- department (职能部门): its dispatched cases, with their deadlines;
- supervisor (网格监督员): handled cases in their grids, to verify on site;
- secretary: the overdue cases of their community;
- grid worker, building head: their own reports still open.
Reading a queue first escalates cases whose deadline has passed (see ``escalation``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from schemas.reports import FINAL_STATUSES
from server.models import Report, Role
from server.services import cases
from server.services.access import Access
from server.services.escalation import escalate_overdue, overdue_clause
from server.services.scopes import report_grid_scope

__all__ = ["queue_clause", "mine_clause", "my_queue", "QUEUES"]

QUEUES = ("mine",)
R = Role


def queue_clause(access: Access, now: datetime) -> ColumnElement[bool]:
    """SQL: the reports in this user's ``mine`` queue at ``now``."""
    role, user = access.role, access.user
    if role in (R.DISPATCHER, R.ADMIN):
        return or_(Report.status.in_(("reported", "accepted", "verified")), overdue_clause(now))
    if role is R.DEPARTMENT:
        if user.department_id is None:
            return false()
        return and_(Report.status == "dispatched", Report.department_id == user.department_id)
    if role is R.SUPERVISOR:
        return and_(Report.status == "handled", report_grid_scope(access))
    if role is R.SECRETARY:
        return and_(overdue_clause(now), report_grid_scope(access))
    return and_(Report.reporter_id == user.id, Report.status.not_in(FINAL_STATUSES))


def mine_clause(access: Access, *, now: datetime | None = None,
                escalate: bool = True) -> ColumnElement[bool]:
    """SQL for ``queue=mine``, after escalating cases whose deadline has passed."""
    when = now or cases.now()
    if escalate:
        escalate_overdue(access.session, now=when, limit=100)
    return queue_clause(access, when)


def my_queue(access: Access, *, now: datetime | None = None,
             escalate: bool = True) -> Select[Any]:
    """A select of the user's queue (unordered), escalating overdue cases first."""
    return select(Report).where(mine_clause(access, now=now, escalate=escalate))
