"""Spreadsheet exports made off the request: ask (202 and where to fetch), then fetch."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for
from marshmallow import fields

from schemas.households import HouseholdExportArgsSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access, current_user
from server.extensions import db
from server.services import exports as service
from server.services.org import get_community
from server.services.scopes import require_community_registry

__all__ = ["bp"]

bp = Blueprint("exports", __name__, url_prefix="/api/v1",
               description="Spreadsheet exports made by a background job")

class ExportRequestArgsSchema(HouseholdExportArgsSchema):
    """The direct export's options, the community always named (a job has no "mine")."""

    community = fields.String(required=True, metadata={"description": "Community code"})


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PENDING = {"description": "Being made: fetch it from `href` (the Location) after Retry-After "
            "seconds.", "headers": {"Retry-After": {"schema": {"type": "integer"}},
                                   "Location": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"type": "object", "properties": {
                "id": {"type": "string"}, "status": {"type": "string", "enum": ["pending"]},
                "href": {"type": "string"}, "retry_after": {"type": "integer"}}}}}}
_FILE = {"description": "The sheet, in the import template (masked as your role requires)",
         "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}},
                     XLSX_MIME: {"schema": {"type": "string", "format": "binary"}}}}


def _pending(export_id: str) -> Response:
    href = url_for("exports.get_export", export_id=export_id)
    response = jsonify({"id": export_id, "status": "pending", "href": href,
                        "retry_after": service.RETRY_AFTER_S})
    response.status_code = 202
    response.headers["Location"] = href
    response.headers["Retry-After"] = str(service.RETRY_AFTER_S)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/households/exports", methods=["POST"])
@auth_required("households.export")
@bp.arguments(ExportRequestArgsSchema, location="query")
@bp.doc(responses={202: _PENDING})
def request_export(args: dict[str, Any]) -> Response:
    """Ask for the community's households as a sheet, made by a job (a city's registry is
    too large to wait for): 202 with the address to fetch it from.

    The same sheet as ``GET /households/export``, written to the audit log when it is made.
    """
    community = get_community(db.session, args["community"])
    require_community_registry(current_access(), community)
    export_id = service.request_household_export(db.session, current_user(), community,
                                                 args["format"])
    return _pending(export_id)


@bp.route("/exports/<string:export_id>")
@auth_required("households.export")
@bp.doc(responses={200: _FILE, 202: _PENDING})
@bp.alt_response(404, response="NOT_FOUND")
def get_export(export_id: str) -> Response:
    """An export I asked for: the file, or 202 with Retry-After while it is being made.

    Another user's export, a forged id or one older than a day is 404.
    """
    try:
        stream, fmt, community = service.export_file(current_user(), export_id)
    except service.ExportPendingError:
        return _pending(export_id)
    with stream:  # as large as the direct export's answer, which is built in memory too
        response = Response(stream.read(),
                            mimetype=XLSX_MIME if fmt == "xlsx" else "text/csv")
    response.headers["Content-Disposition"] = \
        f'attachment; filename="households-{community}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: never in a cache
    return response
