"""Case figures (funnel, disposal and on-time rates, ranking) and the weekly report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response

from schemas.cases import (
    CaseStatsArgsSchema,
    CaseStatsSchema,
    WeeklyArgsSchema,
    WeeklyReportSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.errors import UnprocessableError
from server.extensions import db
from server.services import cases as case_service
from server.services.case_stats import LOCAL_TZ, case_stats
from server.services.weekly import weekly_csv, weekly_report, weekly_xlsx

__all__ = ["bp"]

bp = Blueprint("case_stats", __name__, url_prefix="/api/v1",
               description="Case figures and the weekly report")

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.route("/stats/cases")
@auth_required("stats.cases")
@bp.arguments(CaseStatsArgsSchema, location="query")
@bp.response(200, CaseStatsSchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def case_figures(args: dict[str, Any]) -> Any:
    """Reported, accepted, dispatched, closed, disposal and on-time rates, time per stage and
    the department ranking, for reports made from ``from`` to ``to`` (default: 30 days)."""
    now = case_service.now()
    last = args["to"] or now.astimezone(LOCAL_TZ).date()
    first = args["from_"] or last - timedelta(days=29)
    if first > last:
        raise UnprocessableError("'from' is after 'to'.", errors={"from": ["After 'to'."]})
    return case_stats(db.session, current_access(), first=first, last=last,
                      community=args["community"], now=now)


@bp.route("/stats/weekly")
@auth_required("stats.cases")
@bp.arguments(WeeklyArgsSchema, location="query")
@bp.doc(responses={"200": {"description": "JSON; with format=csv or xlsx the same report as a "
                                          "file with Chinese column headers",
                           "content": {"application/json": {"schema": {
                                           "$ref": "#/components/schemas/WeeklyReport"}},
                                       "text/csv": {"schema": {"type": "string"}},
                                       XLSX_MIME: {"schema": {"type": "string",
                                                              "format": "binary"}}}}})
@bp.response(200, WeeklyReportSchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def weekly(args: dict[str, Any]) -> Any:
    """The weekly report (周报) of an ISO week, as JSON, CSV or XLSX."""
    report = weekly_report(db.session, current_access(), args["week"],
                           community=args["community"], now=case_service.now())
    fmt = args["format"]
    if fmt == "json":
        return report
    # A text/* mimetype gets "; charset=utf-8" from werkzeug: the CSV is UTF-8 (with a BOM).
    data, mime = ((weekly_csv(report), "text/csv") if fmt == "csv"
                  else (weekly_xlsx(report), XLSX_MIME))
    name = f"gridwork-weekly-{report['week']}.{fmt}"
    return Response(data, mimetype=mime,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
