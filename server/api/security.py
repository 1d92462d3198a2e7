"""Bearer-token authentication for API views, and the request's user and access helper."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from server.errors import AuthError
from server.extensions import db
from server.models import ApiToken, User
from server.services.access import Access, access_for
from server.services.auth import authenticate_token
from server.transactions import checkpoint

__all__ = ["auth_required", "current_user", "current_access", "current_token", "SECURITY"]

F = TypeVar("F", bound=Callable[..., Any])
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Send 'Authorization: Bearer <token>'; get a token from "
                        "POST /api/v1/auth/tokens.", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def authenticate_request() -> User:
    """Authenticate the request's bearer token (or the web session) and remember the user."""
    # Cached on the request, not on g: an app context (and its g) can outlive one request.
    cached = request.environ.get("gridwork.user")
    if cached is not None:
        return cast(User, cached)
    from server.web.session import web_session  # pages log in with a cookie

    session_row = web_session() if not request.headers.get("Authorization") else None
    user = session_row.user if session_row is not None else None
    if session_row is not None and db.session.is_modified(session_row):
        checkpoint(db.session)  # its last-seen touch, as for a token below
    if user is None:
        token_row = authenticate_token(db.session, _bearer())
        if db.session.is_modified(token_row):
            # The token check is a unit of its own: its last-use touch (once a minute)
            # must not hold a write lock through the rest of the request.
            checkpoint(db.session)
        request.environ["gridwork.token"] = token_row
        user = token_row.user
    request.environ["gridwork.user"] = user
    g.user = user
    g.access = access_for(db.session, user)
    return user


def auth_required(permission: str | None = None) -> Callable[[F], F]:
    """Decorate a view: require a valid token and, optionally, a role permission."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate_request()
            if permission:
                current_access().require(permission)
            return view(*args, **kwargs)

        # Document the bearer scheme and the 401/403 problems in the OpenAPI operation.
        doc = deepcopy(getattr(view, "_apidoc", {}))
        doc.setdefault("manual_doc", {}).setdefault("security", SECURITY)
        responses = doc.setdefault("response", {}).setdefault("responses", {})
        responses.setdefault(401, []).append("UNAUTHORIZED")
        if permission:
            responses.setdefault(403, []).append("FORBIDDEN")
        wrapper._apidoc = doc  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def current_user() -> User:
    """The authenticated user of this request."""
    return cast(User, g.user)


def current_access() -> Access:
    """The access helper for this request's user."""
    return cast(Access, g.access)


def current_token() -> ApiToken | None:
    """The token row this request authenticated with (``None`` for a web session)."""
    return cast(ApiToken | None, request.environ.get("gridwork.token"))
