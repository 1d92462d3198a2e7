"""Grids: list, import boundaries, locate a point."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select

from schemas.grids import (
    GridImportArgsSchema,
    GridImportResultSchema,
    GridListArgsSchema,
    GridSchema,
    LocateArgsSchema,
    LocateResultSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access, current_user
from server.errors import NotFoundError, UnprocessableError
from server.extensions import db
from server.geo import to_wgs84
from server.models import Community, Grid
from server.services import grids as grid_service
from server.services.audit import audit
from server.services.scopes import grid_scope

__all__ = ["bp"]

bp = Blueprint("grids", __name__, url_prefix="/api/v1", description="Grids and geography")


@bp.route("/grids")
@auth_required("grids.read")
@bp.etag
@bp.arguments(GridListArgsSchema, location="query")
@bp.response(200, GridSchema(many=True))
def list_grids(args: dict[str, Any]) -> Any:
    """The grids in my scope, with their boundaries (GeoJSON geometry, WGS-84)."""
    query = select(Grid).where(grid_scope(current_access())).order_by(Grid.code)
    if args["community"]:
        query = query.join(Community).where(Community.code == args["community"])
    return db.session.scalars(query).all()


@bp.route("/grids/import", methods=["POST"])
@auth_required("grids.import")
@bp.arguments(GridImportArgsSchema, location="query")
@bp.response(200, GridImportResultSchema)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@bp.doc(requestBody={"required": True, "content": {"application/geo+json": {
    "schema": {"type": "object", "description": "A GeoJSON FeatureCollection of Polygon or "
               "MultiPolygon features with properties code and name"}}}})
def import_grids(args: dict[str, Any]) -> Any:
    """Import grid boundaries from a GeoJSON FeatureCollection (re-import updates by code)."""
    collection = request.get_json(silent=True, force=True)
    if collection is None:
        raise UnprocessableError("The body is not JSON: send a GeoJSON FeatureCollection.",
                                 slug="invalid_geojson")
    result = grid_service.import_grids(db.session, args["community"], collection)
    audit(db.session, current_user(), "grids_import", "community", args["community"],
          created=len(result.created), updated=len(result.updated))
    return result


@bp.route("/grids/locate")
@auth_required("grids.read")
@bp.arguments(LocateArgsSchema, location="query")
@bp.response(200, LocateResultSchema)
@bp.alt_response(404, response="NOT_FOUND")
def locate(args: dict[str, Any]) -> Any:
    """Which grid a point falls in; 404 problem if it is in none."""
    lat, lon = to_wgs84(args["lat"], args["lon"], args["crs"])
    grid = grid_service.locate_grid(db.session, lat, lon)
    if grid is None:
        raise NotFoundError(f"No grid contains the point {lat:.6f}, {lon:.6f} (WGS-84).",
                            slug="outside_grid")
    return {"grid": grid, "lat": lat, "lon": lon}
