"""Buildings (楼栋), for administrators: create one in a grid."""

from __future__ import annotations

from typing import Any

from schemas.buildings import BuildingCreateSchema, BuildingSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_user
from server.extensions import db
from server.services import buildings as service

__all__ = ["bp"]

bp = Blueprint("buildings", __name__, url_prefix="/api/v1", description="Buildings (admins)")


@bp.route("/buildings", methods=["POST"])
@auth_required("buildings.manage")
@bp.arguments(BuildingCreateSchema)
@bp.response(201, BuildingSchema)
@bp.alt_response(409, response="CONFLICT")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_building(body: dict[str, Any]) -> Any:
    """Create a building in the grid named, or in the grid its point lies in (admin).

    ``gridwork buildings import`` reads a whole sheet of them.
    """
    return service.create_building(db.session, current_user(), body)
