"""Buildings (楼栋), for administrators: create one in a grid, or import a sheet of them."""

from __future__ import annotations

from typing import Any

from flask import request

from schemas.buildings import BuildingCreateSchema, BuildingImportArgsSchema, BuildingSchema
from schemas.households import ImportResultSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_user
from server.errors import UnprocessableError
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

    POST /buildings/import (or ``gridwork buildings import``) reads a sheet of them.
    """
    return service.create_building(db.session, current_user(), body)


@bp.route("/buildings/import", methods=["POST"])
@auth_required("buildings.manage")
@bp.arguments(BuildingImportArgsSchema, location="query")
@bp.response(200, ImportResultSchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Problems in the file "
                 "(type import_rejected, with problems: row, field, problem); nothing changed")
@bp.doc(requestBody={"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}},
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}}}})
def import_buildings(args: dict[str, Any]) -> Any:
    """Import a building sheet (CSV or XLSX; admin).

    Headers (row 1, any order; English names also accepted): 楼栋编号 (code, required),
    名称 (name, required), 网格 (grid code; default: the grid the point lies in), 纬度 and
    经度 (required), 单元数 (units, default 1). All or nothing, upserting by community and
    code: importing the same file twice changes nothing. With dry_run=1 the answer lists
    every problem and nothing is stored. Send the file as multipart field `file`, or as
    the raw body.
    """
    upload = request.files.get("file")
    data = upload.read() if upload is not None else request.get_data()
    if not data:
        raise UnprocessableError("Send the file (multipart field 'file', or the raw body).",
                                 errors={"file": ["Missing."]})
    return service.import_buildings(db.session, current_user(), data, crs=args["crs"],
                                    dry_run=args["dry_run"])
