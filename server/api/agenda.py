"""The worker's agenda: the households I should visit next."""

from __future__ import annotations

from typing import Any

from schemas.visits import AgendaArgsSchema, AgendaSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.extensions import db
from server.models.types import utcnow
from server.services.agenda import agenda

__all__ = ["bp"]

bp = Blueprint("agenda", __name__, url_prefix="/api/v1",
               description="The households I should visit next")


@bp.route("/me/agenda")
@auth_required("agenda.read")
@bp.arguments(AgendaArgsSchema, location="query")
@bp.response(200, AgendaSchema)
def my_agenda(args: dict[str, Any]) -> Any:
    """Households in my grids that are overdue or due, most urgent first.

    An open yellow ribbon first; then overdue before due; then the most vulnerable
    (shortest visit interval); then the most days overdue; then the nearest to lat/lon.
    Each item says how many days since the last visit and why it is listed.
    """
    return agenda(db.session, current_access(), now=utcnow(), lat=args["lat"],
                  lon=args["lon"], crs=args["crs"], limit=args["limit"])
