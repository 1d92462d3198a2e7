"""A community's visit policy: read it, and (its secretary) change it."""

from __future__ import annotations

from typing import Any

from schemas.communities import VisitPolicySchema, VisitPolicyUpdateSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access, current_user
from server.extensions import db
from server.services import visit_policy
from server.services.audit import audit

__all__ = ["bp"]

bp = Blueprint("communities", __name__, url_prefix="/api/v1",
               description="Communities: how often each kind of household is visited")


@bp.route("/communities/<code>/visit-policy")
@auth_required("visit_policy.read")
@bp.response(200, VisitPolicySchema)
@bp.alt_response(404, response="NOT_FOUND")
def get_visit_policy(code: str) -> Any:
    """Days between visits in force in the community, by household tag."""
    community = visit_policy.community_policy(db.session, current_access(), code)
    return visit_policy.policy_view(community)


@bp.route("/communities/<code>/visit-policy", methods=["PUT"])
@auth_required("visit_policy.manage")
@bp.arguments(VisitPolicyUpdateSchema)
@bp.response(200, VisitPolicySchema)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def put_visit_policy(body: dict[str, Any], code: str) -> Any:
    """Replace the community's overrides (``{}``: the defaults) and reschedule its households.

    For example ``{"overrides": {"elderly_alone": 5, "default": 60}}``: elderly people living
    alone every 5 days, everyone else every 60. Every household's due dates are recomputed
    at once, so the agenda and the map follow.
    """
    community = visit_policy.community_policy(db.session, current_access(), code, manage=True)
    before = dict(community.visit_policy or {})
    audit(db.session, current_user(), "visit_policy_set", "community", community.code,
          before=before, after=body["overrides"])
    count = visit_policy.set_visit_policy(db.session, community, body["overrides"])
    return {**visit_policy.policy_view(community), "rescheduled": count}
