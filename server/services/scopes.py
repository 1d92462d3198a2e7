"""Which rows a caller may see or use: every scope rule of the server, in one module.

``access.py`` says what a role may do (its permissions) and where it works (its grids, its
buildings, or everywhere for admins and the command centre); this module turns that into the
rows of each resource. Services and views filter and check with these rules and build no
scope of their own. A row outside the reader's scope is "not found" (404), never
"forbidden": a 403 would tell a neighbouring grid that it exists. Writing to a row outside
one's reach is a 403. The rules, resource by resource:

- grids (``grid_scope``): every grid for admins and the command centre; a secretary's
  community; a worker's or supervisor's assigned grids; a building head's buildings' grids;
  a department none. A coverage question (``grids_in_scope``) covers those grids, narrowed
  to a community or one grid, and naming a grid outside them is a 403.
- buildings (``building_scope``): the buildings of my grids; a building head's own only.
- households (``household_scope``, ``sees_household``): the households of my grids; a
  building head's buildings' only. A household is created or moved only into my grids
  (``require_household_place``); a visit is recorded, and a yellow ribbon raised, only on a
  household in my grids and buildings (``require_household_reach``). Import and export of a
  community's registry (``require_community_registry``): its secretary, and admins. Which
  fields of a household a reader sees (masked numbers, hidden sensitive tags) is
  ``privacy.py``'s rule, keyed on ``Access.sees_sensitive``, not a scope of rows.
- communities (``works_in_community``): their visit policy is read by anyone with a grid in
  the community, changed by its secretary; admins and the command centre every community.
- people (``worker_scope``): the map's worker filter offers the grid workers of my grids;
  a building head none.
- visits (``visit_scope``): the visits in my grids; a building head's buildings' only.
- the map's pre-aggregated cells (``map_cell_grids``): counted per grid, so they answer only
  a reader of whole grids: every grid for admins and the command centre, else my grids; a
  building head (whose scope is buildings) is answered from the households themselves.
- patrol tracks (``track_scope``): all for admins and the command centre; a secretary's
  community; a supervisor's grids; everyone their own. A grid worker reads only their own:
  a track is where a person walked all day, and a colleague does not need it. A track belongs to the
  grids its worker works in when it arrives, and to their community (``track_home``).
- reports and cases (``report_scope``): all for admins and the command centre; the reports
  of my grids (a secretary's: also of their community, outside every grid too); a
  department the cases dispatched to it, now or before; everyone the reports they made.
  Work queues (``case_queues``) only narrow this scope: a supervisor's and a secretary's
  queue hold cases of their grids (``report_grid_scope``). A move on a case the mover
  may not read is a 404 before any check (``sees_report``); a case is moved
  (``require_case_reach``) by a department only when it holds it, by anyone else only in
  their grids. A report's link to the report it may duplicate is shown only to whoever
  may read that one too (``visible_report_ids``); to others the flag shows without it.
  Case figures and weekly reports (``stats_scope``) count every report for
  admins, the command centre and the command line, a secretary's community, nothing else.
- photos (``sees_photo``): their uploader, admins and the command centre, and whoever may
  see a record that uses them (``PHOTO_VIEW_CHECKS``: a report, a case step, a visit). A
  record (a report, a visit, a need's report, a case step) may reference only photos its
  maker may see (``usable_photos``); any other id answers as a photo not uploaded yet, so
  nobody can probe which photo ids exist.
- uploads (``owns_upload``): an unfinished tus upload is its uploader's alone.
- the sync changes feed: households as above, plus (as deletions) those of my communities
  changed since my first pull and no longer mine (``feed_household_scope``); only the
  reports I made or my department holds or held (``feed_report_scope``). A change of any
  input of these rules (role, grids, buildings, department) changes
  ``scope_fingerprint``, which restarts the feed from an empty cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, cast, exists, false, or_, select, true
from sqlalchemy.orm import Session

from server.errors import ForbiddenError, NotFoundError
from server.models import (
    Building,
    CaseStep,
    Community,
    Grid,
    Household,
    Photo,
    Report,
    Role,
    Track,
    Upload,
    User,
    Visit,
    report_photos,
    track_grids,
    visit_photos,
)
from server.services.access import Access

__all__ = ["PHOTO_VIEW_CHECKS", "PhotoViewCheck", "usable_photos", "sees_report",
           "visible_report_ids", "grid_scope", "grids_in_scope",
           "building_scope", "household_scope", "sees_household", "require_household_place",
           "require_household_reach", "require_community_registry", "works_in_community",
           "worker_scope", "visit_scope", "map_cell_grids", "track_scope", "track_home",
           "report_grid_scope", "report_scope", "require_case_reach", "stats_scope",
           "sees_photo", "owns_upload",
           "feed_household_scope", "feed_report_scope", "scope_fingerprint"]


# -- grids and buildings ---------------------------------------------------------------------


def grid_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the grids this user works in."""
    return access.grid_clause(Grid.id)


def grids_in_scope(session: Session, access: Access, community: str | None,
                   grid: str | None,
                   bbox: tuple[float, float, float, float] | None = None) -> list[Grid]:
    """The grids a coverage question covers: the user's, narrowed to a community or grid,
    and to those whose extent overlaps ``bbox`` (south, west, north, east; edges touch).

    404 for an unknown community or grid code; 403 for a grid outside the user's.
    """
    query = select(Grid).where(grid_scope(access)).order_by(Grid.code)
    if bbox is not None:
        south, west, north, east = bbox
        query = query.where(Grid.min_lat <= north, Grid.max_lat >= south,
                            Grid.min_lon <= east, Grid.max_lon >= west)
    if community:
        if session.scalar(select(Community.id).where(Community.code == community)) is None:
            raise NotFoundError(f"No community with code {community}.")
        query = query.join(Community).where(Community.code == community)
    if grid:
        found = session.scalar(select(Grid).where(Grid.code == grid))
        if found is None:
            raise NotFoundError(f"No grid with code {grid}.")
        access.require_grid(found.id, "grid")
        query = query.where(Grid.id == found.id)
    return list(session.scalars(query))


def building_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the buildings of this user's grids (a building head: their own)."""
    return and_(access.grid_clause(Building.grid_id), access.building_clause(Building.id))


# -- households and communities --------------------------------------------------------------


def household_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the households this user may read (their grids; building heads, buildings)."""
    return and_(access.grid_clause(Household.grid_id),
                access.building_clause(Household.building_id))


def sees_household(access: Access, household: Household) -> bool:
    """Whether ``household`` is in this user's scope (the Python twin of the SQL rule)."""
    return access.sees_grid(household.grid_id) and access.sees_building(household.building_id)


def require_household_place(access: Access, grid_id: int | None) -> None:
    """Raise 403 unless a household may be placed (created, moved) in ``grid_id``."""
    access.require_grid(grid_id, "household")


def require_household_reach(access: Access, household: Household) -> None:
    """Raise 403 unless this user may act on ``household`` (a visit, a yellow ribbon)."""
    access.require_grid(household.grid_id, "household")
    if not access.sees_building(household.building_id):
        raise ForbiddenError("This household is not in your buildings.")


def require_community_registry(access: Access | None, community: Community) -> None:
    """Raise 403 unless the user may import or export ``community``'s households.

    A secretary: their own community only; admins and the command line (``None``): any.
    """
    if access is None or access.everywhere:
        return
    access.require("households.import")
    if access.user.community_id != community.id:
        raise ForbiddenError("You may import households only into your own community.")


def works_in_community(session: Session, access: Access, community: Community, *,
                       manage: bool = False) -> bool:
    """Whether the user works in ``community`` (``manage``: is its secretary); admins: all."""
    if access.everywhere:
        return True
    if manage:
        return access.user.community_id == community.id
    grids = set(session.scalars(select(Grid.id).where(Grid.community_id == community.id)))
    return bool(grids & access.grid_ids)


def worker_scope(access: Access) -> ColumnElement[bool]:
    """SQL on ``Grid.id`` of a worker's grid: the workers this user may list (not a head)."""
    return access.grid_clause(Grid.id) if access.building_ids is None else false()


# -- visits ----------------------------------------------------------------------------------


def visit_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the visits this user may read (their grids; building heads, their buildings)."""
    clause = access.grid_clause(Visit.grid_id)
    if access.building_ids is not None:
        clause = and_(clause, Visit.household_id.in_(select(Household.id).where(
            access.building_clause(Household.building_id))))
    return clause


def map_cell_grids(access: Access) -> list[int] | None | bool:
    """The grids whose map cells this user may count: ``None`` for every grid, a list of
    grid ids, or ``False`` when the cells cannot answer (a building head's scope)."""
    if access.building_ids is not None:
        return False
    return None if access.everywhere else sorted(access.grid_ids)


# -- patrol tracks ---------------------------------------------------------------------------


def track_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the patrol tracks this user may read (see the module docstring)."""
    if access.everywhere:
        return true()
    user = access.user
    clauses: list[ColumnElement[bool]] = [Track.worker_id == user.id]
    if access.role is Role.SECRETARY and user.community_id is not None:
        clauses.append(Track.community_id == user.community_id)
    if access.role in (Role.SUPERVISOR, Role.SECRETARY) and access.grid_ids:
        clauses.append(Track.id.in_(select(track_grids.c.track_id).where(
            track_grids.c.grid_id.in_(sorted(access.grid_ids)))))
    return or_(*clauses)


def track_home(session: Session, access: Access) -> tuple[list[int], int | None]:
    """Where a track the user records belongs: (their grids' ids, their community's id).

    The community is the user's own, else that of their first grid (by id).
    """
    grids = sorted(access.grid_ids)
    community = access.user.community_id
    if community is None and grids:
        community = session.scalar(select(Grid.community_id).where(Grid.id == grids[0]))
    return grids, community


# -- reports and cases -----------------------------------------------------------------------


def report_grid_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the reports located in this user's grids (the geography of a work queue)."""
    return access.grid_clause(Report.grid_id)


def report_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the reports (and cases) this user may read.

    The command centre and admins: all. A secretary: their community. Workers, supervisors
    and building heads: their grids. A department: the cases dispatched to it (now or
    before). Everyone: the reports they made themselves.
    """
    if access.everywhere:
        return true()
    user = access.user
    own = Report.reporter_id == user.id
    if access.role is Role.DEPARTMENT:
        if user.department_id is None:
            return own
        # A case the department once held (and returned) stays readable to it.
        held = select(CaseStep.report_id).where(CaseStep.department_id == user.department_id)
        return or_(own, Report.department_id == user.department_id, Report.id.in_(held))
    clauses = [own, report_grid_scope(access)]
    if access.role is Role.SECRETARY and user.community_id is not None:
        clauses.append(Report.community_id == user.community_id)
    return or_(*clauses)


def sees_report(session: Session, access: Access, report_id: int) -> bool:
    """Whether report (case) ``report_id`` exists and is in the user's ``report_scope``."""
    return bool(session.scalar(select(exists().where(Report.id == report_id,
                                                      report_scope(access)))))


def visible_report_ids(session: Session, access: Access, report_ids: Iterable[int]) -> set[int]:
    """The ids among ``report_ids`` of reports in the user's ``report_scope``."""
    ids = sorted(set(report_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Report.id).where(Report.id.in_(ids),
                                                       report_scope(access))))


def require_case_reach(access: Access, report: Report) -> None:
    """Raise 403 unless the case is in the mover's geography (a department: its own case)."""
    if access.role is Role.DEPARTMENT:
        if access.user.department_id is None or report.department_id != access.user.department_id:
            raise ForbiddenError(f"Case {report.id} is not dispatched to your department.",
                                 slug="not_your_case")
    elif not access.sees_grid(report.grid_id):
        raise ForbiddenError(f"Case {report.id} is outside your grids.", slug="not_your_case")


def stats_scope(access: Access | None) -> ColumnElement[bool]:
    """SQL: the reports whose figures this user may see (a secretary: their community).

    ``None`` is the command line, which sees everything.
    """
    if access is None or access.everywhere:
        return true()
    if access.role is Role.SECRETARY and access.user.community_id is not None:
        return Report.community_id == access.user.community_id
    return false()


# -- photos and uploads ----------------------------------------------------------------------

PhotoViewCheck = Callable[[Session, Access, Photo], bool]


def _seen_through_reports(session: Session, access: Access, photo: Photo) -> bool:
    query = (select(Report.id).join(report_photos, report_photos.c.report_id == Report.id)
             .where(report_photos.c.photo_id == photo.id, report_scope(access))
             .limit(1))
    return session.scalar(query) is not None


def _seen_through_case_steps(session: Session, access: Access, photo: Photo) -> bool:
    """After-photos (回告) and failed-verification photos are listed on the case's steps."""
    # photo_ids is a JSON list of UUIDs; a quoted UUID cannot match anything but itself.
    needle = f'%"{photo.id}"%'
    query = (select(Report.id).join(CaseStep, CaseStep.report_id == Report.id)
             .where(cast(CaseStep.photo_ids, String).like(needle), report_scope(access))
             .limit(1))
    return session.scalar(query) is not None


def _seen_through_visits(session: Session, access: Access, photo: Photo) -> bool:
    query = (select(Visit.id).join(visit_photos, visit_photos.c.visit_id == Visit.id)
             .where(visit_photos.c.photo_id == photo.id, visit_scope(access)).limit(1))
    return session.scalar(query) is not None


# Who may see a photo besides its uploader: each check answers for one kind of record that
# uses photos (a report, a case step, a visit).
PHOTO_VIEW_CHECKS: list[PhotoViewCheck] = [
    _seen_through_reports, _seen_through_case_steps, _seen_through_visits]


def sees_photo(session: Session, access: Access, photo: Photo) -> bool:
    """Whether the user may see the photo: they uploaded it, or may see a record using it."""
    if photo.uploaded_by_id == access.user.id or access.everywhere:
        return True
    return any(check(session, access, photo) for check in PHOTO_VIEW_CHECKS)


def usable_photos(session: Session, access: Access,
                  photo_ids: Sequence[str]) -> dict[str, Photo]:
    """The photos among ``photo_ids`` the user may attach to a record, by id.

    An id missing from the answer is either not uploaded yet or not the user's to use; the
    caller answers both alike (409 dependency_missing).
    """
    found: dict[str, Photo] = {}
    ids = sorted(set(photo_ids))
    for start in range(0, len(ids), 500):  # an IN list short enough for every database
        found.update((p.id, p) for p in session.scalars(
            select(Photo).where(Photo.id.in_(ids[start:start + 500]))))
    return {pid: photo for pid, photo in found.items() if sees_photo(session, access, photo)}


def owns_upload(user: User, upload: Upload) -> bool:
    """Whether ``upload`` is ``user``'s (nobody else may see or resume it)."""
    return upload.user_id == user.id


# -- the sync changes feed -------------------------------------------------------------------


def _my_communities(session: Session, access: Access) -> list[int]:
    """The communities of the user's grids (none for admins, the command centre, a dept)."""
    if access.everywhere or not access.grid_ids:
        return []
    return sorted(set(session.scalars(select(Grid.community_id).where(
        Grid.id.in_(sorted(access.grid_ids))))))


def feed_household_scope(session: Session, access: Access,
                         first_pull: datetime | None) -> ColumnElement[bool]:
    """SQL: the households the changes feed looks at for this user.

    Those in scope, plus those of the user's communities changed after ``first_pull``: the
    ones among them that are no longer in scope are sent as deletions (``sees_household``).
    """
    mine = household_scope(access)
    communities = _my_communities(session, access)
    if first_pull is not None and communities:
        return or_(mine, and_(Household.community_id.in_(communities),
                              Household.updated_at > first_pull))
    return mine


def feed_report_scope(access: Access) -> ColumnElement[bool]:
    """SQL: the reports the changes feed carries: mine, and my department's (now or before)."""
    mine: ColumnElement[bool] = Report.reporter_id == access.user.id
    dept = access.user.department_id
    if access.role is Role.DEPARTMENT and dept is not None:
        was_ours = exists().where(CaseStep.report_id == Report.id,
                                  CaseStep.department_id == dept)
        return or_(mine, Report.department_id == dept, was_ours)
    return mine


def scope_fingerprint(access: Access) -> str:
    """A short digest of what the user may see; a change restarts their changes feed."""
    user = access.user
    parts = [access.role.value, sorted(access.grid_ids), sorted(access.building_ids or ()),
             user.department_id, user.id]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
