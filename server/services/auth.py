"""Passwords (argon2id), opaque bearer tokens (only a hash stored), and user accounts."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import AuthError, UnprocessableError
from server.models import ApiToken, Building, Community, Department, Grid, Role, User
from server.models.types import utcnow

__all__ = ["hash_password", "verify_password", "issue_token", "authenticate_token",
           "revoke_token", "login", "create_user", "TOKEN_PREFIX"]

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# The test suite creates hundreds of users; it hashes with the cheapest parameters.
_cheap_hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
TOKEN_PREFIX = "gw_"  # noqa: S105 - a public prefix that marks our tokens, not a secret
# Verifying against a real hash when the username is unknown keeps timing the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    if has_app_context() and current_app.config.get("PASSWORD_HASH_CHEAP"):
        return _cheap_hasher.hash(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Check a password against its argon2 hash."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(session: Session, username: str, password: str) -> User:
    """Return the active user with these credentials, or raise 401."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise AuthError("Wrong username or password.", slug="invalid_credentials")
    if not verify_password(user.password_hash, password) or not user.active:
        raise AuthError("Wrong username or password.", slug="invalid_credentials")
    if _hasher.check_needs_rehash(user.password_hash) and not current_app.config.get(
            "PASSWORD_HASH_CHEAP"):
        user.password_hash = hash_password(password)
    return user


def issue_token(session: Session, user: User, *, ttl_hours: float,
                device_id: str | None = None) -> tuple[str, ApiToken]:
    """Create a bearer token for ``user``; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=_digest(token), device_id=device_id,
                   expires_at=utcnow() + timedelta(hours=ttl_hours))
    session.add(row)
    session.flush()
    return token, row


def authenticate_token(session: Session, token: str, *, now: datetime | None = None) -> ApiToken:
    """Find the live token row for a presented bearer token, or raise 401."""
    now = now or utcnow()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        raise AuthError("The token is not valid. Log in again.", slug="invalid_token")
    if row.expires_at <= now:
        raise AuthError("The token has expired. Log in again.", slug="token_expired")
    if not row.user.active:
        raise AuthError("This account is disabled.", slug="invalid_token")
    # Touch at most once a minute so reads do not turn into writes on every request.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row


def revoke_token(session: Session, row: ApiToken) -> None:
    """Revoke a token (log out)."""
    row.revoked_at = utcnow()
    session.flush()


def create_user(session: Session, username: str, password: str, role: str, *,
                display_name: str | None = None, grid_codes: tuple[str, ...] = (),
                community_code: str | None = None, department_code: str | None = None,
                building_ids: tuple[int, ...] = ()) -> User:
    """Create a user with a role and a geography; raise 422 on a bad combination."""
    errors: dict[str, list[str]] = {}
    if role not in {r.value for r in Role}:
        errors["role"] = [f"Must be one of: {', '.join(r.value for r in Role)}."]
    if len(password) < 8:
        errors["password"] = ["Use at least 8 characters."]
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = [f"The username {username!r} is taken."]
    grids = list(session.scalars(select(Grid).where(Grid.code.in_(grid_codes))))
    missing = sorted(set(grid_codes) - {g.code for g in grids})
    if missing:
        errors["grid"] = [f"No grid with code {', '.join(missing)}."]
    community = None
    if community_code:
        community = session.scalar(select(Community).where(Community.code == community_code))
        if community is None:
            errors["community"] = [f"No community with code {community_code}."]
    department = None
    if department_code:
        department = session.scalar(select(Department).where(Department.code == department_code))
        if department is None:
            errors["department"] = [f"No department with code {department_code}."]
    _check_geography(role, grids, community_code, department_code, building_ids, errors)
    if errors:
        raise UnprocessableError("The user cannot be created; see errors.", errors=errors)
    if community is None and grids:
        community = grids[0].community
    user = User(username=username, display_name=display_name or username, role=role,
                password_hash=hash_password(password), community=community,
                department=department, grids=grids)
    if building_ids:
        user.buildings = list(session.scalars(select(Building).where(
            Building.id.in_(building_ids))))
    session.add(user)
    session.flush()
    return user


def _check_geography(role: str, grids: list[Grid], community_code: str | None,
                     department_code: str | None, building_ids: tuple[int, ...],
                     errors: dict[str, list[str]]) -> None:
    if role in (Role.GRID_WORKER, Role.SUPERVISOR) and not grids:
        errors.setdefault("grid", []).append(f"A {role} needs at least one --grid.")
    if role == Role.SECRETARY and not community_code:
        errors.setdefault("community", []).append("A secretary needs --community.")
    if role == Role.DEPARTMENT and not department_code:
        errors.setdefault("department", []).append("A department user needs --department.")
    if role == Role.BUILDING_HEAD and not building_ids:
        errors.setdefault("building", []).append("A building head needs at least one building.")
