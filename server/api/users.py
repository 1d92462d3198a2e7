"""User accounts, for administrators: list, disable and enable, reset a password, revoke
tokens, lift a login lock (each audited)."""

from __future__ import annotations

from typing import Any

from schemas.users import (
    PasswordResetSchema,
    TokenRevokeResultSchema,
    TokenRevokeSchema,
    UserListArgsSchema,
    UserPageSchema,
    UserSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_user
from server.extensions import db
from server.services import users as service

__all__ = ["bp"]

bp = Blueprint("users", __name__, url_prefix="/api/v1", description="User accounts (admins)")


@bp.route("/users")
@auth_required("users.manage")
@bp.arguments(UserListArgsSchema, location="query")
@bp.response(200, UserPageSchema)
def list_users(args: dict[str, Any]) -> Any:
    """Every account, paged by id; ``role``, ``active`` and ``community`` narrow the list."""
    items, cursor = service.list_users(db.session, args)
    return {"items": items, "next_cursor": cursor}


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
@auth_required("users.manage")
@bp.response(200, UserSchema)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def disable_user(user_id: int) -> Any:
    """Disable an account: no more logins, and its tokens and web sessions end at once."""
    user = service.get_user(db.session, user_id)
    service.disable_user(db.session, current_user(), user)
    return service.account(db.session, user)


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
@auth_required("users.manage")
@bp.response(200, UserSchema)
@bp.alt_response(404, response="NOT_FOUND")
def enable_user(user_id: int) -> Any:
    """Let a disabled account log in again (its old tokens stay revoked)."""
    user = service.get_user(db.session, user_id)
    service.enable_user(db.session, current_user(), user)
    return service.account(db.session, user)


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@auth_required("users.manage")
@bp.arguments(PasswordResetSchema)
@bp.response(200, UserSchema)
@bp.alt_response(404, response="NOT_FOUND")
def reset_password(body: dict[str, Any], user_id: int) -> Any:
    """Set a new password: the account's tokens and web sessions end and any lock lifts."""
    user = service.get_user(db.session, user_id)
    service.reset_password(db.session, current_user(), user, body["password"])
    return service.account(db.session, user)


@bp.route("/users/<int:user_id>/revoke-tokens", methods=["POST"])
@auth_required("users.manage")
@bp.arguments(TokenRevokeSchema)
@bp.response(200, TokenRevokeResultSchema)
@bp.alt_response(404, response="NOT_FOUND")
def revoke_tokens(body: dict[str, Any], user_id: int) -> Any:
    """Revoke one device's tokens (a lost phone), or all tokens and web sessions."""
    user = service.get_user(db.session, user_id)
    return {"revoked": service.revoke_tokens(db.session, current_user(), user,
                                             device_id=body["device_id"])}


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@auth_required("users.manage")
@bp.response(200, UserSchema)
@bp.alt_response(404, response="NOT_FOUND")
def unlock_user(user_id: int) -> Any:
    """Lift the lock that failed logins put on the account."""
    user = service.get_user(db.session, user_id)
    service.unlock_user(db.session, current_user(), user)
    return service.account(db.session, user)
