"""Passwords (argon2id), opaque bearer tokens and web sessions (only their hashes stored),
the count of failed logins, and user accounts.

Every way of logging in (the API's token endpoint, the web pages' form, and any later one
such as OpenRosa's Basic or Digest) calls :func:`login`, so all of them share one count per
username. The count lives in the database (``login_failure``), so every worker and every
host sees the same one, in the embedded tier too. ``LOGIN_MAX_FAILURES`` failures within
``LOGIN_FAILURE_WINDOW_MINUTES`` lock the username for ``LOGIN_LOCK_MINUTES`` (429 with
Retry-After). Before the lock ends, any of three lifts it: the right password from a device
that has logged in as this user before (a token was issued to its ``device_id``), as long
as the failures stay under twice the limit; an administrator (:func:`clear_failures`, from
``gridwork users unlock`` or the users API); a password reset.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy import and_, case, delete, exists, literal, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.errors import ApiError, AuthError, UnprocessableError
from server.models import (
    ApiToken,
    Building,
    Community,
    Department,
    Grid,
    LoginFailure,
    Role,
    User,
    WebSession,
)
from server.models.types import UTCDateTime, utcnow

__all__ = ["hash_password", "verify_password", "issue_token", "authenticate_token",
           "revoke_token", "login", "create_user", "TOKEN_PREFIX", "LoginLockedError",
           "LoginPolicy", "clear_failures", "locked_until", "start_web_session",
           "authenticate_web_session", "end_web_session", "revoke_credentials",
           "check_password", "count_failed_login"]

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


class LoginLockedError(ApiError):
    """Too many failed logins for this username: wait ``Retry-After`` seconds."""

    status, slug, title = 429, "rate_limited", "Too many failed logins"


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures within which window lock a username, and for how long."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls) -> LoginPolicy:
        """The policy of the running app (the defaults outside one)."""
        if not has_app_context():
            return cls()
        cfg = current_app.config
        return cls(max_failures=int(cfg.get("LOGIN_MAX_FAILURES", cls.max_failures)),
                   window=timedelta(minutes=float(cfg.get("LOGIN_FAILURE_WINDOW_MINUTES", 15))),
                   lock=timedelta(minutes=float(cfg.get("LOGIN_LOCK_MINUTES", 15))))


def login(session: Session, username: str, password: str, *,
          device_id: str | None = None) -> User:
    """Return the active user with these credentials; 401 if wrong, 429 while locked.

    Args:
        device_id: the device asking (the API's login sends it); a device that has logged
            in as this user before may still try while the username is locked.
    """
    now, policy = utcnow(), LoginPolicy.from_config()
    state = session.execute(select(LoginFailure.failures, LoginFailure.locked_until).where(
        LoginFailure.username == username)).first()
    locked = state.locked_until if state is not None and state.locked_until is not None \
        and state.locked_until > now else None
    user = session.scalar(select(User).where(User.username == username))
    if locked is not None and not (state is not None
                                   and state.failures < 2 * policy.max_failures
                                   and _known_device(session, user, device_id)):
        raise _locked_error(locked, now)
    if user is None:
        verify_password(_DUMMY_HASH, password)  # the same time as for a real account
    if user is None or not verify_password(user.password_hash, password) or not user.active:
        _count_failure(session, username, now, policy)
        if locked is not None:
            raise _locked_error(locked, now)
        raise AuthError("Wrong username or password.", slug="invalid_credentials")
    if state is not None:
        clear_failures(session, username)
    if _hasher.check_needs_rehash(user.password_hash) and not current_app.config.get(
            "PASSWORD_HASH_CHEAP"):
        user.password_hash = hash_password(password)
    return user


def _locked_error(until: datetime, now: datetime) -> LoginLockedError:
    wait = max(1, math.ceil((until - now).total_seconds()))
    return LoginLockedError(
        f"Too many failed logins for this username. Try again in {math.ceil(wait / 60)} "
        "minutes, log in from a device you have used before, or ask the administrator.",
        headers={"Retry-After": str(wait)})


def _known_device(session: Session, user: User | None, device_id: str | None) -> bool:
    if user is None or not device_id:
        return False
    return bool(session.scalar(select(exists().where(
        ApiToken.user_id == user.id, ApiToken.device_id == device_id))))


def _count_failure(session: Session, username: str, now: datetime, policy: LoginPolicy) -> None:
    """Count one failure for ``username`` in one statement, so racing workers add up."""
    row = LoginFailure.__table__.c
    at = literal(now, UTCDateTime())
    lock_end = literal(now + policy.lock, UTCDateTime())
    active = and_(row.locked_until.is_not(None), row.locked_until > at)
    expired = and_(row.locked_until.is_not(None), row.locked_until <= at)
    stale = and_(not_(active), or_(
        row.window_started_at <= literal(now - policy.window, UTCDateTime()), expired))
    failures = case((stale, 1), else_=row.failures + 1)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(LoginFailure).values(
        username=username, failures=1, window_started_at=now,
        locked_until=now + policy.lock if policy.max_failures <= 1 else None)
    session.execute(stmt.on_conflict_do_update(index_elements=["username"], set_={
        "failures": failures,
        "window_started_at": case((stale, at), else_=row.window_started_at),
        "locked_until": case((active, row.locked_until),
                             (failures >= policy.max_failures, lock_end), else_=None),
    }))
    # Rows whose window and lock are over tell nothing any more (unknown names pile up).
    # After the upsert, skipping rows another login holds: two logins never wait on each
    # other (PostgreSQL; SQLite has one writer at a time anyway).
    over = select(LoginFailure.username).where(
        LoginFailure.username != username,
        LoginFailure.window_started_at <= now - policy.window,
        or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now),
    ).with_for_update(skip_locked=True)
    session.execute(delete(LoginFailure).where(LoginFailure.username.in_(over.scalar_subquery())))


def count_failed_login(session: Session, username: str) -> None:
    """Count one failed login for ``username`` from a way of logging in that checks the
    secret itself rather than through :func:`login` (OpenRosa's Digest, whose answer is a
    hash no argon2 password can be checked against)."""
    _count_failure(session, username, utcnow(), LoginPolicy.from_config())


def clear_failures(session: Session, username: str) -> bool:
    """Forget the failed logins of ``username`` and lift its lock; whether there were any."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def locked_until(session: Session, usernames: list[str]) -> dict[str, datetime]:
    """The usernames among ``usernames`` that are locked now, with the lock's end."""
    now = utcnow()
    rows = session.execute(select(LoginFailure.username, LoginFailure.locked_until).where(
        LoginFailure.username.in_(usernames), LoginFailure.locked_until > now))
    return {name: until for name, until in rows if until is not None}


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


def start_web_session(session: Session, user: User, *,
                      ttl_hours: float) -> tuple[str, WebSession]:
    """Open a web session for ``user``; the plain id (for the cookie) is returned once."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(id_hash=_digest(session_id), user_id=user.id, created_at=now,
                     last_seen_at=now, expires_at=now + timedelta(hours=ttl_hours))
    session.add(row)
    session.flush()
    return session_id, row


def authenticate_web_session(session: Session, session_id: str, *,
                             now: datetime | None = None) -> WebSession | None:
    """The live web session with this id (not ended, not expired, its user active), or None."""
    now = now or utcnow()
    row = session.scalar(select(WebSession).where(WebSession.id_hash == _digest(session_id)))
    if row is None or row.revoked_at is not None or row.expires_at <= now \
            or not row.user.active:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):  # a write at most once a minute
        row.last_seen_at = now
    return row


def end_web_session(session: Session, session_id: str) -> None:
    """End the web session with this id (log out): every copy of the cookie stops working."""
    session.execute(update(WebSession).where(
        WebSession.id_hash == _digest(session_id), WebSession.revoked_at.is_(None),
    ).values(revoked_at=utcnow()))


def revoke_credentials(session: Session, user: User, *, device_id: str | None = None) -> int:
    """Revoke the user's live tokens and end their web sessions; how many were live.

    Args:
        device_id: only the tokens issued to this device (a lost phone); web sessions stay.
    """
    now = utcnow()
    tokens = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                                    ApiToken.expires_at > now)
    if device_id is not None:
        tokens = tokens.where(ApiToken.device_id == device_id)
    count = session.execute(tokens.values(revoked_at=now)).rowcount  # type: ignore[attr-defined]
    if device_id is None:
        count += session.execute(update(WebSession).where(  # type: ignore[attr-defined]
            WebSession.user_id == user.id, WebSession.revoked_at.is_(None),
            WebSession.expires_at > now).values(revoked_at=now)).rowcount
    return int(count)


def create_user(session: Session, username: str, password: str, role: str, *,
                display_name: str | None = None, grid_codes: tuple[str, ...] = (),
                community_code: str | None = None, department_code: str | None = None,
                building_ids: tuple[int, ...] = ()) -> User:
    """Create a user with a role and a geography; raise 422 on a bad combination."""
    errors: dict[str, list[str]] = {}
    if role not in {r.value for r in Role}:
        errors["role"] = [f"Must be one of: {', '.join(r.value for r in Role)}."]
    problem = check_password(password)
    if problem:
        errors["password"] = [problem]
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


def check_password(password: str) -> str | None:
    """Why ``password`` may not be used, or ``None``."""
    if len(password) < 8:
        return "Use at least 8 characters."
    return None


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
