"""The case workflow (立案 → 派单 → 处置 → 核查 → 结案): one table of moves, the rules of each.

A report becomes a case when the command centre accepts it. Every move is checked in this
order: the role may make this move at all (403), the case's state allows it (409, naming the
state and the moves it allows), the case is in the actor's geography (403: a supervisor's
grid, a department's own case), and the move's own needs (422: a reason, a photo, a place).
The report's version column settles a race: of two moves made on the same version, the
second one's UPDATE matches no row, and it answers 409.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from schemas.cases import CASE_ACTIONS
from server.errors import (
    ConflictError,
    DependencyMissingError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from server.geo import distance_m, to_wgs84
from server.models import CaseStep, Department, Grid, Report, Role
from server.models.types import utcnow
from server.services.access import Access
from server.services.audit import audit
from server.services.idempotency import body_digest, find_replay, insert_or_twin
from server.services.scopes import require_case_reach, sees_report, usable_photos
from server.transactions import after_commit

__all__ = ["TRANSITIONS", "ACTIONS", "ESCALATE", "DEADLINE_STATUSES", "now", "transition",
           "allowed_actions", "actions_for_role", "get_case", "next_seq",
           "deadline_after"]

R = Role
_COMMAND = frozenset({R.DISPATCHER})
_DEPARTMENT = frozenset({R.DEPARTMENT})
_SUPERVISOR = frozenset({R.SUPERVISOR})

# The workflow: (state, action) -> (next state, roles that may make the move).
TRANSITIONS: dict[tuple[str, str], tuple[str, frozenset[Role]]] = {
    ("reported", "accept"): ("accepted", _COMMAND),  # 立案
    ("reported", "reject"): ("rejected", _COMMAND),  # 不予立案
    ("accepted", "dispatch"): ("dispatched", _COMMAND),  # 派单
    ("dispatched", "return"): ("accepted", _DEPARTMENT),  # 退单
    ("dispatched", "handle"): ("handled", _DEPARTMENT),  # 回告
    ("handled", "verify"): ("verified", _SUPERVISOR),  # 核查通过
    ("handled", "fail_verify"): ("dispatched", _SUPERVISOR),  # 核查不通过, back to the dept
    ("verified", "close"): ("closed", _COMMAND),  # 结案
}
ACTIONS = CASE_ACTIONS  # the moves the wire names (schemas.cases): the table makes each
assert set(ACTIONS) == {action for _state, action in TRANSITIONS}, "the wire's moves, no other"
ESCALATE = "escalate"  # the system's own step when a deadline passes; not a user move
# States in which a deadline runs: from dispatch until the case is closed (按期结案).
DEADLINE_STATUSES = ("dispatched", "handled", "verified")


def now() -> datetime:
    """The workflow's clock (UTC); tests replace it to replay a case at its real times."""
    return utcnow()


def allowed_actions(status: str) -> list[str]:
    """The moves the table allows from ``status``, in workflow order."""
    return [action for (state, action) in TRANSITIONS if state == status]


def actions_for_role(role: Role) -> list[str]:
    """The moves a role may ever make."""
    return [action for (_s, action), (_t, roles) in TRANSITIONS.items() if role in roles]


def get_case(session: Session, report_id: int, *, fresh: bool = False) -> Report:
    """The report ``report_id``, or 404; ``fresh`` rereads a row the session already holds."""
    report = session.get(Report, report_id, populate_existing=fresh)
    if report is None:
        raise NotFoundError(f"No report {report_id}.")
    return report


def next_seq(session: Session, report_id: int) -> int:
    """The number of the report's next step."""
    last = session.scalar(select(func.max(CaseStep.seq)).where(CaseStep.report_id == report_id))
    return (last or 0) + 1


def deadline_after(report: Report, when: datetime) -> datetime:
    """The handling deadline of a dispatch at ``when``: the category's hours of wall-clock time."""
    return when + timedelta(hours=report.category.sla_hours)


def _conflict(report: Report, detail: str, slug: str = "invalid_transition") -> ConflictError:
    return ConflictError(detail, slug=slug, case_status=report.status, version=report.version,
                         allowed_actions=allowed_actions(report.status))


def _check_move(access: Access, report: Report, action: str) -> str:
    """The next state for ``action``; 403 for a role that never makes it, 409 for the state."""
    if action not in actions_for_role(access.role):
        makers = sorted({r.value for (_s, a), (_t, roles) in TRANSITIONS.items()
                         if a == action for r in roles})
        raise ForbiddenError(f"A {access.role.value} may not {action} a case; "
                             f"only a {' or '.join(makers)} may.", slug="role_not_allowed")
    move = TRANSITIONS.get((report.status, action))
    if move is None:
        allowed = allowed_actions(report.status)
        raise _conflict(report, f"Case {report.id} is {report.status}: it cannot take "
                                f"'{action}'. Allowed now: {', '.join(allowed) or 'nothing'}.")
    return move[0]


def _invalid(field: str, message: str) -> UnprocessableError:
    return UnprocessableError(message, errors={field: [message]})


def _need_note(body: Mapping[str, Any], what: str) -> str:
    note = (body.get("note") or "").strip()
    if not note:
        raise _invalid("note", f"Give {what} in 'note'.")
    return note


def _need_photos(session: Session, access: Access, body: Mapping[str, Any],
                 what: str) -> list[str]:
    photo_ids = list(dict.fromkeys(body.get("photo_ids") or []))
    if not photo_ids:
        raise _invalid("photo_ids", f"Attach at least one {what} photo.")
    known = usable_photos(session, access, photo_ids)
    missing = [pid for pid in photo_ids if pid not in known]
    if missing:
        raise DependencyMissingError(
            "Upload the photos first, then send this move again.",
            missing=[{"kind": "photo", "client_uuid": pid} for pid in missing])
    return photo_ids


# Each rule checks a move's needs (querying before anything changes, so no autoflush writes
# half a move) and returns a function that applies the move to the report and its step.
Apply = Callable[[Report, CaseStep], None]


def _rule_accept(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                 when: datetime) -> Apply:
    def apply(r: Report, _step: CaseStep) -> None:
        r.accepted_at = r.accepted_at or when

    return apply


def _rule_reject(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                 when: datetime) -> Apply:
    _need_note(body, "the reason the report is not taken up (不予立案)")
    return lambda r, s: None


def _grid_named(session: Session, report: Report, body: Mapping[str, Any]) -> Grid | None:
    """The grid ``body`` names to place the case in (whose supervisor checks it), if any."""
    code = (body.get("grid") or "").strip()
    if not code:
        return None
    grid = session.scalar(select(Grid).where(Grid.code == code))
    if grid is None:
        raise _invalid("grid", f"No grid with code {code}.")
    if report.community_id is not None and grid.community_id != report.community_id:
        raise _invalid("grid", f"Grid {code} is in another community than the report.")
    return grid


def _rule_dispatch(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                   when: datetime) -> Apply:
    code = (body.get("department") or "").strip()
    if not code:
        raise _invalid("department", "Name the department to dispatch to (its code).")
    dept = session.scalar(select(Department).where(Department.code == code))
    if dept is None or not dept.active:
        raise _invalid("department", f"No active department with code {code}.")
    grid = _grid_named(session, report, body)
    if grid is None and report.grid_id is None:
        # Nobody could check the fix on site (核查): a supervisor works in grids.
        raise _invalid("grid", f"Case {report.id} lies outside every grid: name the grid "
                               "whose supervisor will check the fix on site (grid).")
    deadline = deadline_after(report, when)

    def apply(r: Report, step: CaseStep) -> None:
        if grid is not None:
            r.grid_id, r.community_id = grid.id, grid.community_id
        r.department_id, r.deadline_at, r.escalated_at = dept.id, deadline, None
        r.dispatched_at = r.dispatched_at or when
        step.department_id, step.deadline_at = dept.id, deadline

    return apply


def _rule_return(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                 when: datetime) -> Apply:
    _need_note(body, "the reason the case is not yours (退单)")

    def apply(r: Report, step: CaseStep) -> None:
        step.department_id = r.department_id
        r.department_id, r.deadline_at, r.escalated_at = None, None, None

    return apply


def _rule_handle(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                 when: datetime) -> Apply:
    photos = _need_photos(session, access, body, "after")

    def apply(r: Report, step: CaseStep) -> None:
        r.handled_at = when
        step.photo_ids, step.department_id = photos, r.department_id

    return apply


def _rule_verify(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                 when: datetime) -> Apply:
    point = body.get("location")
    if not point:
        raise _invalid("location", "Send where you verified the fix (location).")
    lat, lon = to_wgs84(point["lat"], point["lon"], point.get("crs") or "wgs84")
    cfg = current_app.config if has_app_context() else {}
    slack = min(point.get("accuracy_m") or 0.0, float(cfg.get("OFF_SITE_ACCURACY_CAP_M", 100)))
    away = distance_m((lat, lon), (report.lat, report.lon))
    if away > float(cfg.get("CASE_VERIFY_RADIUS_M", 200.0)) + slack:
        raise _invalid("location", f"You are {away:.0f} m from the case: verify on site.")
    photos = list(dict.fromkeys(body.get("photo_ids") or []))
    if photos:
        photos = _need_photos(session, access, body, "verification")

    def apply(r: Report, step: CaseStep) -> None:
        r.verified_at = when
        step.lat, step.lon, step.photo_ids = lat, lon, photos

    return apply


def _rule_fail_verify(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                      when: datetime) -> Apply:
    _need_note(body, "what is still wrong on site")
    photos = _need_photos(session, access, body, "on-site")
    deadline = deadline_after(report, when)
    point = body.get("location")
    lat, lon = (to_wgs84(point["lat"], point["lon"], point.get("crs") or "wgs84") if point
                else (None, None))

    def apply(r: Report, step: CaseStep) -> None:
        r.deadline_at, r.escalated_at = deadline, None
        step.photo_ids, step.department_id, step.deadline_at = photos, r.department_id, deadline
        step.lat, step.lon = lat, lon

    return apply


def _rule_close(session: Session, access: Access, report: Report, body: Mapping[str, Any],
                when: datetime) -> Apply:
    def apply(r: Report, step: CaseStep) -> None:
        r.closed_at = when
        # 按期结案: closed by the deadline of the last dispatch.
        r.closed_on_time = r.deadline_at is not None and when <= r.deadline_at
        step.department_id = r.department_id

    return apply


_RULES: dict[str, Callable[[Session, Access, Report, Mapping[str, Any], datetime], Apply]] = {
    "accept": _rule_accept, "reject": _rule_reject, "dispatch": _rule_dispatch,
    "return": _rule_return, "handle": _rule_handle, "verify": _rule_verify,
    "fail_verify": _rule_fail_verify, "close": _rule_close,
}
assert set(_RULES) == set(ACTIONS), "every move in the table needs a rule"


def transition(session: Session, access: Access, report_id: int, body: Mapping[str, Any],
               *, at: datetime | None = None) -> tuple[CaseStep, bool]:
    """Make one move on a case with its step (and webhook delivery), in a savepoint.

    Args:
        body: the loaded TransitionSchema: action, note, department, photo_ids, location,
            expected_version and, from a device, the move's client_uuid.
        at: when the move happened; ``None`` means ``now()`` (the demo replays past cases).
    Returns:
        (the step, whether this call made it): a move sent again with the same client_uuid
        and body answers the step the first one made, before any check of the case's
        state, which that first move has changed.
    """
    from server.services import webhooks

    key = body.get("client_uuid")
    # The case and the person belong to the move: the same body on another case, or from
    # someone else, under this client_uuid is a conflict, not a replay.
    digest = body_digest({**body, "report_id": report_id, "actor_id": access.user.id}) \
        if key else None
    if key and digest:
        earlier = find_replay(session, CaseStep, key, digest)
        if earlier is not None:
            return earlier, False
    if not sees_report(session, access, report_id):
        # Before any check that would describe the case (its status, moves, version).
        raise NotFoundError(f"No report {report_id}.")
    report = get_case(session, report_id, fresh=True)
    action = body["action"]
    expected = body.get("expected_version")
    if expected is not None and expected != report.version:
        raise _conflict(report, f"Case {report.id} changed since you read it (version "
                                f"{expected}, now {report.version}); reload it.",
                        slug="stale_version")
    to_status = _check_move(access, report, action)
    require_case_reach(access, report)
    when = at or now()
    apply = _RULES[action](session, access, report, body, when)
    step = CaseStep(report_id=report.id, seq=next_seq(session, report.id), action=action,
                    from_status=report.status, to_status=to_status, actor_id=access.user.id,
                    actor_role=access.role.value, at=when,
                    note=(body.get("note") or "").strip(), photo_ids=[],
                    client_uuid=key, body_sha256=digest)

    def write() -> bool:
        apply(report, step)
        report.status = to_status
        session.flush()  # UPDATE report ... WHERE version = <the version we read>
        session.add(step)
        session.flush()
        queued = webhooks.enqueue(session, report, step)
        audit(session, access.user, f"case_{action}", "report", report.id, step=step.seq)
        return queued

    def twin() -> CaseStep | None:  # the same move sent twice at once: the one that won
        return find_replay(session, CaseStep, key, digest) if key and digest else None

    try:
        outcome, created = insert_or_twin(session.begin_nested, write, twin,
                                          races=(StaleDataError, IntegrityError))
    except (StaleDataError, IntegrityError) as exc:
        if isinstance(exc, IntegrityError) and "case_step" not in str(exc.orig):
            raise  # not the (report, seq) guard: a real fault, not a race
        fresh = session.get(Report, report_id, populate_existing=True)
        assert fresh is not None
        raise _conflict(fresh, f"Someone else moved case {report_id} at the same time; it "
                               f"is now {fresh.status}. Reload it.",
                        slug="concurrent_transition") from exc
    if not created:
        assert isinstance(outcome, CaseStep)
        return outcome, False
    if outcome:  # a webhook delivery was queued: wake the sender once it is committed
        after_commit(session, webhooks.notify)
    return step, True
