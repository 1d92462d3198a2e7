"""The data model (SQLAlchemy 2.0 ``Mapped`` models); importing this registers every table."""

from __future__ import annotations

from server.models.audit import AuditLog
from server.models.cases import CaseStep, WebhookDelivery
from server.models.households import Household, YellowRibbonRequest
from server.models.map_cells import MapCell, MapCellChange, MapCellClock
from server.models.org import Building, Community, Department, Grid
from server.models.photos import Photo
from server.models.reports import REPORT_STATUSES, Category, Report, report_photos
from server.models.tracks import Track, track_grids
from server.models.uploads import Upload
from server.models.users import (
    ApiToken,
    LoginFailure,
    Role,
    User,
    WebSession,
    user_buildings,
    user_grids,
)
from server.models.visits import Visit, VisitNeed, visit_photos

__all__ = [
    "Photo", "Category", "Report", "report_photos", "REPORT_STATUSES",
    "AuditLog", "Building", "Community", "Department", "Grid", "ApiToken", "Role", "User",
    "WebSession", "LoginFailure", "user_buildings", "user_grids",
    "Upload",
    "CaseStep", "WebhookDelivery",
    "Household", "YellowRibbonRequest", "Visit", "VisitNeed", "visit_photos",
    "Track", "track_grids",
    "MapCell", "MapCellChange", "MapCellClock",
]
