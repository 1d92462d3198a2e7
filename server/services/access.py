"""The one authorization helper: what a role may do, and where (which grids).

Every view asks this module. A permission names an action; the role table says which roles
hold it; the geography (community, grids, buildings, department) narrows where it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from server.errors import ForbiddenError
from server.models import Grid, Role, User

__all__ = ["PERMISSIONS", "Access", "access_for"]

R = Role
_ALL = frozenset(Role)

PERMISSIONS: dict[str, frozenset[Role]] = {
    "grids.read": _ALL,
    "grids.import": frozenset({R.ADMIN}),
    "users.manage": frozenset({R.ADMIN}),
    "buildings.manage": frozenset({R.ADMIN}),
    "categories.manage": frozenset({R.ADMIN}),
    "photos.upload": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER, R.SUPERVISOR,
                                R.BUILDING_HEAD, R.DEPARTMENT, R.DISPATCHER}),
    "photos.original": frozenset({R.ADMIN, R.SECRETARY, R.DISPATCHER, R.SUPERVISOR}),
    "reports.create": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER, R.SUPERVISOR,
                                 R.BUILDING_HEAD}),
    "reports.read": _ALL,
    "households.create": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER}),
    "households.read": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER, R.SUPERVISOR,
                                  R.BUILDING_HEAD}),
    "households.update": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER}),
    "households.import": frozenset({R.ADMIN, R.SECRETARY}),
    "households.sensitive": frozenset({R.SECRETARY, R.GRID_WORKER}),
    "households.yellow_ribbon": frozenset({R.SECRETARY, R.GRID_WORKER, R.BUILDING_HEAD}),
    "households.export": frozenset({R.ADMIN, R.SECRETARY}),
    # How often each kind of household is visited, per community (its secretary sets it).
    "visit_policy.read": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER, R.SUPERVISOR,
                                    R.BUILDING_HEAD}),
    "visit_policy.manage": frozenset({R.ADMIN, R.SECRETARY}),
    # The agenda ranks by tags, sensitive ones included: only roles that may see them.
    "agenda.read": frozenset({R.SECRETARY, R.GRID_WORKER}),
    "visits.create": frozenset({R.SECRETARY, R.GRID_WORKER, R.BUILDING_HEAD}),
    "visits.read": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER, R.SUPERVISOR,
                              R.BUILDING_HEAD}),
    # Patrol tracks (巡查轨迹): recorded by who patrols; read by who oversees them too.
    "tracks.create": frozenset({R.GRID_WORKER, R.SUPERVISOR}),
    "tracks.read": frozenset({R.ADMIN, R.SECRETARY, R.DISPATCHER, R.GRID_WORKER,
                              R.SUPERVISOR}),
    "stats.coverage": frozenset({R.ADMIN, R.SECRETARY, R.SUPERVISOR, R.GRID_WORKER}),
    "stats.cases": frozenset({R.ADMIN, R.SECRETARY, R.DISPATCHER}),
    "cases.transition": frozenset({R.DISPATCHER, R.DEPARTMENT, R.SUPERVISOR}),
    "sync.push": frozenset({R.ADMIN, R.SECRETARY, R.GRID_WORKER, R.SUPERVISOR,
                            R.BUILDING_HEAD}),
    "sync.pull": _ALL,
}
# Roles whose geography is every grid (the command centre works across communities).
_EVERYWHERE = frozenset({R.ADMIN, R.DISPATCHER})


@dataclass
class Access:
    """A user's permissions and geography, computed once per request."""

    user: User
    session: Session

    @property
    def role(self) -> Role:
        """The user's role."""
        return Role(self.user.role)

    def has(self, permission: str) -> bool:
        """Whether the role holds ``permission`` anywhere."""
        return self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        """Raise 403 unless the role holds ``permission``."""
        if not self.has(permission):
            raise ForbiddenError(f"A {self.role.value} may not do this ({permission}).")

    @property
    def everywhere(self) -> bool:
        """Whether the user's geography is every grid."""
        return self.role in _EVERYWHERE

    @cached_property
    def grid_ids(self) -> frozenset[int]:
        """The grids this user works in (empty for a department; see ``everywhere``)."""
        role, user = self.role, self.user
        if role is R.SECRETARY and user.community_id is not None:
            ids = self.session.scalars(select(Grid.id).where(
                Grid.community_id == user.community_id))
            return frozenset(ids)
        if role in (R.GRID_WORKER, R.SUPERVISOR):
            return frozenset(g.id for g in user.grids)
        if role is R.BUILDING_HEAD:
            return frozenset(b.grid_id for b in user.buildings if b.grid_id is not None)
        return frozenset()

    @cached_property
    def building_ids(self) -> frozenset[int] | None:
        """For a building head, their buildings; for everyone else ``None`` (not limited)."""
        if self.role is R.BUILDING_HEAD:
            return frozenset(b.id for b in self.user.buildings)
        return None

    def sees_grid(self, grid_id: int | None) -> bool:
        """Whether a record in ``grid_id`` is in this user's geography."""
        if self.everywhere:
            return True
        return grid_id is not None and grid_id in self.grid_ids

    def require_grid(self, grid_id: int | None, what: str = "record") -> None:
        """Raise 403 unless ``grid_id`` is in this user's geography."""
        if not self.sees_grid(grid_id):
            raise ForbiddenError(f"This {what} is outside your grids.")

    def grid_clause(self, column: Any) -> ColumnElement[bool]:
        """A WHERE clause limiting ``column`` (a grid id column) to this user's geography."""
        if self.everywhere:
            return true()
        if not self.grid_ids:
            return false()
        return column.in_(sorted(self.grid_ids))  # type: ignore[no-any-return]

    def building_clause(self, column: Any) -> ColumnElement[bool]:
        """A WHERE clause limiting a building id column for building heads; true otherwise."""
        if self.building_ids is None:
            return true()
        if not self.building_ids:
            return false()
        return column.in_(sorted(self.building_ids))  # type: ignore[no-any-return]

    def sees_sensitive(self, grid_id: int | None) -> bool:
        """Whether unmasked phone/ID numbers and sensitive tags may be shown for this grid."""
        return self.has("households.sensitive") and self.sees_grid(grid_id)

    def sees_building(self, building_id: int | None) -> bool:
        """Whether a building-level record is visible to a building head (true for others)."""
        return self.building_ids is None or building_id in self.building_ids


def access_for(session: Session, user: User) -> Access:
    """The access helper for ``user``."""
    return Access(user=user, session=session)

