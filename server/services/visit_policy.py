"""How often a household must be visited, and when it is next due.

A household's interval is the shortest interval among its tags (its most demanding need),
or the default. Counting from the last visit that met the family, it is ``due`` inside the
last quarter of that interval and ``overdue`` after it. A household nobody has met yet is
overdue from the day it was registered: the secretary asks "who has nobody visited?", and
a household never visited is the first answer. An open yellow-ribbon request puts the
household on the agenda at once and makes it overdue three days (its interval) after it was
raised, whatever the last visit was. A follow-up a worker promised (a visit's
``follow_up_on``) makes it due on that day and overdue the day after, until a visit meets the
family on or after that day.

Communities override intervals in ``Community.visit_policy`` (``{"elderly": 30, ...}``,
``"default"`` for untagged households).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import NotFoundError, UnprocessableError
from server.models import Community, Household, YellowRibbonRequest
from server.services.access import Access
from server.services.org import get_community
from server.services.scopes import works_in_community

__all__ = ["DEFAULT_INTERVALS", "intervals_for", "interval_for", "Schedule", "schedule",
           "status_of", "apply_schedule", "open_ribbons", "reschedule", "validate_policy",
           "set_visit_policy", "HouseholdStatus", "community_policy", "policy_view"]

# Days between visits. elderly (高龄, 80 and over) and veteran (退役军人) are not named in
# the defaults; 高龄 老人 are visited fortnightly like other vulnerable groups, and
# veterans monthly (the 退役军人服务站 practice); both are overridable per community.
DEFAULT_INTERVALS: dict[str, int] = {
    "yellow_ribbon": 3,
    "elderly_alone": 7,
    "seriously_ill": 7,
    "disabled": 14,
    "low_income": 14,
    "left_behind_child": 14,
    "elderly": 14,
    "veteran": 30,
    "default": 90,
}
HouseholdStatus = str  # "ok" | "due" | "overdue"


def validate_policy(policy: Mapping[str, Any]) -> dict[str, int]:
    """Check a community's override (known tags, 1..3650 days); 422 otherwise."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, int] = {}
    for key, value in policy.items():
        if key not in DEFAULT_INTERVALS:
            errors[key] = [f"Unknown tag; use one of {', '.join(DEFAULT_INTERVALS)}."]
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
            errors[key] = ["Give a whole number of days from 1 to 3650."]
        else:
            clean[key] = value
    if errors:
        raise UnprocessableError("The visit policy is not valid; see errors.", errors=errors)
    return clean


def intervals_for(community: Community | None) -> dict[str, int]:
    """The intervals in force in ``community``: the defaults, overridden by its policy."""
    merged = dict(DEFAULT_INTERVALS)
    if community is not None and community.visit_policy:
        merged.update({k: int(v) for k, v in community.visit_policy.items()
                       if k in DEFAULT_INTERVALS})
    return merged


def interval_for(tags: Iterable[str], intervals: Mapping[str, int]) -> int:
    """Days between visits for a household with ``tags``: its most demanding tag wins."""
    days = [intervals[t] for t in tags if t in intervals and t != "default"]
    return min(days, default=intervals["default"])


@dataclass(frozen=True)
class Schedule:
    """When a household becomes due and overdue."""

    interval_days: int
    priority: bool
    due_from_at: datetime
    next_due_at: datetime


def schedule(*, tags: Iterable[str], intervals: Mapping[str, int], created_at: datetime,
             last_met_at: datetime | None, ribbon_raised_at: datetime | None,
             follow_up_at: datetime | None = None) -> Schedule:
    """The schedule of one household (see the module docstring for the rules)."""
    tags = list(tags)
    interval = interval_for(tags, intervals)  # ranks the household (a ribbon: 3 days)
    # An open request counts from when it was raised, not from the last visit.
    routine = interval_for([t for t in tags if t != "yellow_ribbon"], intervals) \
        if ribbon_raised_at is not None else interval
    if last_met_at is None:
        due_from = next_due = created_at
    else:
        next_due = last_met_at + timedelta(days=routine)
        due_from = next_due - timedelta(days=routine) / 4
    if ribbon_raised_at is not None:
        due_from = min(due_from, ribbon_raised_at)
        next_due = min(next_due, ribbon_raised_at + timedelta(days=intervals["yellow_ribbon"]))
    if follow_up_at is not None:
        due_from = min(due_from, follow_up_at)
        next_due = min(next_due, follow_up_at + timedelta(days=1))
    return Schedule(interval, interval < intervals["default"], due_from, next_due)


def status_of(household: Household, now: datetime) -> HouseholdStatus:
    """``moved_out``, or ``overdue``, ``due`` or ``ok`` at ``now``."""
    if household.moved_out_at is not None:
        return "moved_out"
    if household.next_due_at <= now:
        return "overdue"
    if household.due_from_at <= now:
        return "due"
    return "ok"


_LOOKUP: Any = object()


def open_ribbons(session: Session, household_ids: Iterable[int]) -> dict[int, datetime]:
    """When each household's oldest open yellow-ribbon request was raised (if it has one)."""
    ids = list(household_ids)
    if not ids:
        return {}
    rows = session.execute(select(YellowRibbonRequest.household_id,
                                  func.min(YellowRibbonRequest.raised_at))
                           .where(YellowRibbonRequest.household_id.in_(ids),
                                  YellowRibbonRequest.closed_at.is_(None))
                           .group_by(YellowRibbonRequest.household_id))
    return {hid: raised for hid, raised in rows}


def apply_schedule(session: Session, household: Household,
                   intervals: Mapping[str, int] | None = None,
                   ribbon_raised_at: datetime | None = _LOOKUP) -> Schedule:
    """Recompute and store the household's schedule (after a visit or a change of tags).

    Args:
        intervals: the community's intervals, when the caller has them already.
        ribbon_raised_at: the open yellow-ribbon request's time, when the caller knows it
            (``None``: no open request); looked up otherwise.
    """
    if intervals is None:
        intervals = intervals_for(session.get(Community, household.community_id))
    if ribbon_raised_at is _LOOKUP:
        ribbon_raised_at = (open_ribbons(session, [household.id]).get(household.id)
                            if household.id is not None else None)
    plan = schedule(tags=household.tags or [], intervals=intervals,
                    created_at=household.created_at, last_met_at=household.last_met_at,
                    ribbon_raised_at=ribbon_raised_at, follow_up_at=household.follow_up_at)
    household.visit_interval_days = plan.interval_days
    household.priority = plan.priority
    household.due_from_at = plan.due_from_at
    household.next_due_at = plan.next_due_at
    return plan


def reschedule(session: Session, community: Community) -> int:
    """Recompute every household of ``community`` (after its policy changed); no commit."""
    intervals = intervals_for(community)
    households = list(session.scalars(select(Household).where(
        Household.community_id == community.id)))
    ribbons = {hid: raised for hid, raised in session.execute(
        select(YellowRibbonRequest.household_id, func.min(YellowRibbonRequest.raised_at))
        .join(Household, Household.id == YellowRibbonRequest.household_id)
        .where(Household.community_id == community.id, YellowRibbonRequest.closed_at.is_(None))
        .group_by(YellowRibbonRequest.household_id))}
    for household in households:
        apply_schedule(session, household, intervals, ribbons.get(household.id))
    return len(households)


def set_visit_policy(session: Session, community: Community,
                     policy: Mapping[str, Any] | None) -> int:
    """Replace ``community``'s overrides and reschedule its households (the caller commits)."""
    community.visit_policy = validate_policy(policy) if policy else None
    count = reschedule(session, community)
    session.flush()
    return count


def community_policy(session: Session, access: Access, code: str, *,
                     manage: bool = False) -> Community:
    """The community ``code`` if ``access`` may read (``manage``: change) its visit policy.

    Readers: anyone working in one of its grids (admins: every community). Changing it: its
    own secretary, or an admin. A community outside the caller's geography answers 404.
    """
    access.require("visit_policy.manage" if manage else "visit_policy.read")
    community = get_community(session, code)
    if not works_in_community(session, access, community, manage=manage):
        raise NotFoundError(f"No community with code {code} in your geography.")
    return community


def policy_view(community: Community) -> dict[str, Any]:
    """The community's overrides, the intervals in force, and the defaults they override."""
    return {"community": community.code, "overrides": dict(community.visit_policy or {}),
            "intervals": intervals_for(community), "defaults": dict(DEFAULT_INTERVALS)}
