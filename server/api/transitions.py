"""The case workflow: moves on a case (立案, 派单, 回告, 核查, 结案) and its timeline."""

from __future__ import annotations

from typing import Any

from schemas.cases import TimelineSchema, TransitionResultSchema, TransitionSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access
from server.extensions import db
from server.services import cases as case_service
from server.services.case_timeline import build_timeline, case_view, step_views

__all__ = ["bp"]

bp = Blueprint("cases", __name__, url_prefix="/api/v1",
               description="The case workflow: moves on a report and its timeline")


@bp.route("/reports/<int:report_id>/transitions", methods=["POST"])
@auth_required("cases.transition")
@bp.arguments(TransitionSchema)
@bp.response(201, TransitionResultSchema)
@bp.alt_response(200, schema=TransitionResultSchema,
                 description="A replay (same client_uuid and body): the step the first made")
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT", description="Not allowed in the case's state "
                 "(the problem names it and lists allowed_actions), changed meanwhile, or a "
                 "photo not uploaded yet, or another move sent under the same client_uuid")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def make_transition(body: dict[str, Any], report_id: int) -> Any:
    """Make one move on a case; answers the case's new state and the step written.

    A phone should send a client_uuid with each move: if the answer is lost on the way back,
    sending the same move again answers 200 with the step already made.
    """
    step, made = case_service.transition(db.session, current_access(), report_id, body)
    report = case_service.get_case(db.session, report_id)
    answer = {**case_view(db.session, report, case_service.now()),
              "step": step_views(db.session, [step])[0]}
    return answer if made else (answer, 200)


@bp.route("/reports/<int:report_id>/timeline")
@auth_required("reports.read")
@bp.response(200, TimelineSchema)
@bp.alt_response(404, response="NOT_FOUND")
def timeline(report_id: int) -> Any:
    """Every step of a case (who, role, when, note, photos) and the time spent in each stage."""
    return build_timeline(db.session, current_access(), report_id)
