"""Tokens (log in, log out) and who I am."""

from __future__ import annotations

from typing import Any

from flask import current_app

from schemas.auth import CapturePolicySchema, MeSchema, TokenRequestSchema, TokenSchema
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_token, current_user
from server.errors import ApiError
from server.extensions import db, login_address_limit
from server.services import auth as auth_service
from server.services.audit import audit
from server.transactions import keep_on_error

__all__ = ["bp"]

bp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Log in, log out, who I am")


@bp.route("/auth/tokens", methods=["POST"])
@login_address_limit()
@bp.arguments(TokenRequestSchema)
@bp.response(201, TokenSchema)
@bp.alt_response(401, response="UNAUTHORIZED")
@bp.alt_response(429, response="TOO_MANY_REQUESTS")
def create_token(args: dict[str, Any]) -> Any:
    """Log in: exchange username and password for a bearer token with an expiry.

    Failed attempts are counted per username (shared with every other way of logging in)
    and per client address: past the limit the answer is 429 with Retry-After. While a
    username is locked, a device that has logged in as that user before (``device_id``)
    may still log in with the right password.
    """
    try:
        user = auth_service.login(db.session, args["username"], args["password"],
                                  device_id=args.get("device_id"))
    except ApiError as exc:
        audit(db.session, None, "login_failed", "user", None, username=args["username"][:64],
              reason=exc.slug)
        keep_on_error()  # the refusal (401, 429) keeps its audit row and the failure count
        raise
    token, row = auth_service.issue_token(
        db.session, user, ttl_hours=current_app.config["TOKEN_TTL_HOURS"],
        device_id=args.get("device_id"))
    audit(db.session, user, "login", "user", user.id, device_id=args.get("device_id"))
    return {"token": token, "token_type": "Bearer", "expires_at": row.expires_at}


@bp.route("/auth/tokens/current", methods=["DELETE"])
@auth_required()
@bp.response(204)
def revoke_current_token() -> None:
    """Log out: revoke the token this request was made with."""
    row = current_token()
    if row is not None:
        auth_service.revoke_token(db.session, row)


@bp.route("/me")
@auth_required()
@bp.response(200, MeSchema)
def me() -> Any:
    """Who I am: my role, community, department, grids and buildings."""
    return current_user()


@bp.route("/capture-policy")
@auth_required()
@bp.response(200, CapturePolicySchema)
def capture_policy() -> Any:
    """The thresholds of the server's flags, for warnings at capture (``gridsync``, the
    field app): the same configuration values the visit and report services use."""
    cfg = current_app.config
    return {"off_site_m": cfg["OFF_SITE_M"],
            "off_site_accuracy_cap_m": cfg["OFF_SITE_ACCURACY_CAP_M"],
            "location_mismatch_m": cfg["LOCATION_MISMATCH_M"],
            "duplicate_radius_m": cfg["DUPLICATE_RADIUS_M"],
            "duplicate_window_hours": cfg["DUPLICATE_WINDOW_HOURS"]}
