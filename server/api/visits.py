"""House visits (入户走访): log one with proof of presence, list and read them, needs → reports."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import selectinload

from schemas.visits import (
    NeedReportRequestSchema,
    NeedReportResultSchema,
    VisitCreateSchema,
    VisitListArgsSchema,
    VisitPageSchema,
    VisitSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.extensions import db
from server.models import Visit
from server.services import visits as service
from server.services.coverage import to_instant
from server.services.paging import paginate
from server.transactions import keep_on_error

__all__ = ["bp"]

bp = Blueprint("visits", __name__, url_prefix="/api/v1",
               description="House visits: who went to which door, when, and where they stood")


@bp.route("/visits", methods=["POST"])
@auth_required("visits.create")
@bp.arguments(VisitCreateSchema)
@bp.response(201, VisitSchema)
@bp.alt_response(200, schema=VisitSchema, description="A replay: the first visit")
@bp.alt_response(403, response="FORBIDDEN", description="The household is outside my grids")
@bp.alt_response(409, response="CONFLICT", description="Another body under this client_uuid, "
                 "or the household or a photo has not arrived yet (type dependency_missing, "
                 "with missing: [{kind, client_uuid}])")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_visit(body: dict[str, Any]) -> Any:
    """Log a visit to a household in my grids.

    The server measures how far from the household the phone stood (geodesic) and flags
    off_site beyond OFF_SITE_M plus the GPS accuracy (capped); it flags late_entry when the
    visit arrives more than LATE_VISIT_HOURS after it happened, and refuses a visited_at
    in the future. A visit that meets the family closes an open yellow ribbon. Needs with
    create_report become reports. Replays are safe.
    """
    access = current_access()
    # No savepoint: a failed INSERT fails this request, whose transaction holds nothing else.
    visit, created = service.create_visit(db.session, access, body, savepoint=False)
    keep_on_error()  # the visit stands even when one of its needs' reports is refused
    service.make_need_reports(db.session, access, visit, body)
    return visit if created else (visit, 200)


@bp.route("/visits")
@auth_required("visits.read")
@bp.etag
@bp.arguments(VisitListArgsSchema, location="query")
@bp.response(200, VisitPageSchema)
def list_visits(args: dict[str, Any]) -> Any:
    """Visits in my geography, newest first.

    Filters: household_id, worker_id, grid, outcome, off_site, report_id (the visit whose
    need became that report), from/to (dates are Beijing days; to is excluded).
    """
    zone = current_app.config["TIMEZONE"]
    query = service.visit_query(current_access(), args, to_instant(args["from_"], zone),
                                to_instant(args["to"], zone)).options(
        selectinload(Visit.needs), selectinload(Visit.photos),
        selectinload(Visit.household), selectinload(Visit.worker))
    items, cursor = paginate(db.session, query, Visit.id, limit=args["limit"],
                             cursor=args["cursor"])
    return {"items": items, "next_cursor": cursor}


@bp.route("/visits/<int:visit_id>")
@auth_required("visits.read")
@bp.etag
@bp.response(200, VisitSchema)
@bp.alt_response(404, response="NOT_FOUND")
def get_visit(visit_id: int) -> Any:
    """One visit, if it is in my geography (404 otherwise)."""
    return service.get_visit(db.session, current_access(), visit_id)


@bp.route("/visits/<int:visit_id>/needs/<int:position>/report", methods=["POST"])
@auth_required("reports.create")
@bp.arguments(NeedReportRequestSchema)
@bp.response(201, NeedReportResultSchema)
@bp.alt_response(200, schema=NeedReportResultSchema, description="Already a report: that one")
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def need_to_report(body: dict[str, Any], visit_id: int, position: int) -> Any:
    """Turn need number `position` (0-based) of a visit into a report, once.

    The report is placed at the household, timed at the visit, carries the visit's photos,
    and links back: the need shows its report_id, and GET /visits?report_id= finds the
    visit. Give `category` when the need's category is not a report category.
    """
    access = current_access()
    visit = service.get_visit(db.session, access, visit_id)
    need, created = service.need_report(db.session, access, visit, position,
                                        category=body["category"],
                                        description=body["description"])
    result = {"visit_id": visit.id, "position": need.position, "report_id": need.report_id}
    return result if created else (result, 200)
