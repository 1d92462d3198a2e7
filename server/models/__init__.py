"""The data model (SQLAlchemy 2.0 ``Mapped`` models); importing this registers every table."""

from __future__ import annotations

from server.models.audit import AuditLog
from server.models.org import Building, Community, Department, Grid
from server.models.users import ApiToken, Role, User, user_buildings, user_grids

__all__ = [
    "AuditLog", "Building", "Community", "Department", "Grid", "ApiToken", "Role", "User",
    "user_buildings", "user_grids",
]
