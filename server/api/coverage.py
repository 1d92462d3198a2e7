"""Visit coverage (走访覆盖率) per grid and per worker."""

from __future__ import annotations

from typing import Any

from flask import current_app

from schemas.coverage import CoverageArgsSchema, CoverageSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.extensions import db
from server.models.types import utcnow
from server.services.coverage import coverage, coverage_window

__all__ = ["bp"]

bp = Blueprint("coverage", __name__, url_prefix="/api/v1",
               description="Visit coverage per grid and per worker")


@bp.route("/stats/coverage")
@auth_required("stats.coverage")
@bp.arguments(CoverageArgsSchema, location="query")
@bp.response(200, CoverageSchema)
@bp.alt_response(403, response="FORBIDDEN")
@bp.alt_response(404, response="NOT_FOUND")
def get_coverage(args: dict[str, Any]) -> Any:
    """Households, households met, coverage %, visits and off-site share in [from, to).

    Per grid of my scope (a secretary: the community; a worker or supervisor: their grids;
    an admin: all, or ?community= / ?grid=), per worker and in total. Dates are Beijing
    days: from=2026-03-01&to=2026-04-01 is March. By default the last 30 days.
    """
    now = utcnow()
    start, end = coverage_window(args["from_"], args["to"], current_app.config["TIMEZONE"],
                                 now)
    return coverage(db.session, current_access(), community=args["community"],
                    grid=args["grid"], start=start, end=end, now=now)
