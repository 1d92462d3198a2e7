"""User accounts, for administrators: list them, disable and enable, reset a password, revoke
tokens, lift a login lock.

The API (``/api/v1/users``, admins only) and ``gridwork users`` call these. Each change is
audited with the administrator who made it (``None`` from the command line). Disabling a
user or resetting their password also revokes their tokens and ends their web sessions, so
a lost phone or a shared password stops working at once, not when its token expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ConflictError, NotFoundError, UnprocessableError
from server.models import Community, Role, User
from server.services import auth
from server.services.audit import audit
from server.services.paging import paginate

__all__ = ["list_users", "get_user", "find_user", "account", "disable_user", "enable_user",
           "reset_password", "revoke_tokens", "unlock_user"]


def account(session: Session, user: User) -> dict[str, Any]:
    """A user as an administrator sees it: role, geography, active, and any login lock."""
    locked = auth.locked_until(session, [user.username]).get(user.username)
    return _account(user, locked)


def _account(user: User, locked: Any) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role, "active": user.active,
            "community": user.community.code if user.community else None,
            "department": user.department.code if user.department else None,
            "grids": [grid.code for grid in user.grids], "created_at": user.created_at,
            "locked_until": locked}


def list_users(session: Session, filters: Mapping[str, Any]) -> tuple[list[dict[str, Any]],
                                                                      str | None]:
    """A page of accounts by id, narrowed by ``role``, ``active`` and ``community`` code."""
    query = select(User)
    role = filters.get("role")
    if role is not None:
        if role not in {r.value for r in Role}:
            raise UnprocessableError("Unknown role.", errors={"role": [
                f"Must be one of: {', '.join(r.value for r in Role)}."]})
        query = query.where(User.role == role)
    if filters.get("active") is not None:
        query = query.where(User.active.is_(bool(filters["active"])))
    if filters.get("community"):
        query = query.join(Community, User.community_id == Community.id).where(
            Community.code == filters["community"])
    users, cursor = paginate(session, query, User.id, limit=int(filters.get("limit", 50)),
                             cursor=filters.get("cursor"), descending=False)
    locks = auth.locked_until(session, [u.username for u in users])
    return [_account(u, locks.get(u.username)) for u in users], cursor


def get_user(session: Session, user_id: int) -> User:
    """The user with ``user_id``, or 404."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"No user with id {user_id}.")
    return user


def find_user(session: Session, username: str) -> User:
    """The user named ``username``, or 404."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"No user named {username!r}.")
    return user


def disable_user(session: Session, actor: User | None, user: User) -> int:
    """Disable ``user``: no login, and their tokens and web sessions end; how many ended."""
    if actor is not None and actor.id == user.id:
        raise ConflictError("You cannot disable your own account; ask another administrator "
                            "or use `gridwork users disable`.", slug="own_account")
    user.active = False
    ended = auth.revoke_credentials(session, user)
    _audit(session, actor, "user_disabled", user, ended=ended)
    return ended


def enable_user(session: Session, actor: User | None, user: User) -> None:
    """Let a disabled ``user`` log in again (their old tokens stay revoked)."""
    user.active = True
    _audit(session, actor, "user_enabled", user)


def reset_password(session: Session, actor: User | None, user: User, password: str) -> int:
    """Give ``user`` a new password, end their tokens and sessions, lift any lock."""
    problem = auth.check_password(password)
    if problem:
        raise UnprocessableError("The password cannot be used; see errors.",
                                 errors={"password": [problem]})
    user.password_hash = auth.hash_password(password)
    ended = auth.revoke_credentials(session, user)
    auth.clear_failures(session, user.username)
    _audit(session, actor, "password_reset", user, ended=ended)
    return ended


def revoke_tokens(session: Session, actor: User | None, user: User, *,
                  device_id: str | None = None) -> int:
    """Revoke ``user``'s tokens (only ``device_id``'s, for a lost phone), and without a device
    their web sessions too; how many were live."""
    revoked = auth.revoke_credentials(session, user, device_id=device_id)
    _audit(session, actor, "tokens_revoked", user, revoked=revoked, device_id=device_id)
    return revoked


def unlock_user(session: Session, actor: User | None, user: User) -> bool:
    """Lift the lock that failed logins put on ``user``; whether there was a count to clear."""
    cleared = auth.clear_failures(session, user.username)
    _audit(session, actor, "user_unlocked", user, cleared=cleared)
    return cleared


def _audit(session: Session, actor: User | None, action: str, user: User,
           **detail: Any) -> None:
    audit(session, actor, action, "user", user.id, username=user.username,
          via="api" if actor is not None else "cli", **detail)
    session.flush()
