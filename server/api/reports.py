"""Reports (事件上报): create from a phone, list and read in my scope, and the map's GeoJSON."""

from __future__ import annotations

from typing import Any

from flask import Response, json

from schemas.reports import (
    ReportCreateSchema,
    ReportFeatureCollectionSchema,
    ReportGeoJSONArgsSchema,
    ReportListArgsSchema,
    ReportPageSchema,
    ReportSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.extensions import db
from server.services import reports as service

__all__ = ["bp"]

bp = Blueprint("reports", __name__, url_prefix="/api/v1",
               description="Geotagged photo reports")


@bp.route("/reports", methods=["POST"])
@auth_required("reports.create")
@bp.arguments(ReportCreateSchema)
@bp.response(201, ReportSchema)
@bp.alt_response(200, schema=ReportSchema, description="A replay: the first report")
@bp.alt_response(409, response="CONFLICT", description="Another body under this client_uuid, "
                 "or photos not uploaded yet (type dependency_missing, with missing)")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_report(body: dict[str, Any]) -> Any:
    """Report a problem with where, when and 1 to 9 photos.

    The server finds the grid (outside every grid: flag outside_grid), compares each photo's
    EXIF place and time with the report (location_mismatch, stale_photo) and links an open
    report of the same category nearby (possible_duplicate_of). Replays are safe: the same
    client_uuid and body answer 200 with the first report.
    """
    report, created = service.create_report(db.session, current_access(), body)
    return report if created else (report, 200)


@bp.route("/reports")
@auth_required("reports.read")
@bp.etag
@bp.arguments(ReportListArgsSchema, location="query")
@bp.response(200, ReportPageSchema)
def list_reports(args: dict[str, Any]) -> Any:
    """Reports in my scope, newest first, filtered by grid, category, status, bbox and time."""
    items, next_cursor = service.list_reports(db.session, current_access(), args)
    return {"items": items, "next_cursor": next_cursor}


@bp.route("/reports.geojson")
@auth_required("reports.read")
@bp.arguments(ReportGeoJSONArgsSchema, location="query")
@bp.response(200, ReportFeatureCollectionSchema, content_type="application/geo+json")
def reports_geojson(args: dict[str, Any]) -> Any:
    """The same reports as a GeoJSON FeatureCollection for the map (no personal data)."""
    items, next_cursor = service.list_reports(db.session, current_access(), args)
    body = ReportFeatureCollectionSchema().dump(
        {"features": items, "next_cursor": next_cursor})
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/geo+json")


@bp.route("/reports/<int:report_id>")
@auth_required("reports.read")
@bp.etag
@bp.response(200, ReportSchema)
@bp.alt_response(404, response="NOT_FOUND")
def get_report(report_id: int) -> Any:
    """One report, if it is in my scope (404 otherwise)."""
    return service.get_report(db.session, current_access(), report_id)
