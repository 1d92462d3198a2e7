"""The logged-in user of a web page session (cookie), for views shared with the API."""

from __future__ import annotations

from flask import session

from server.extensions import db
from server.models import User

__all__ = ["session_user", "SESSION_USER_KEY"]

SESSION_USER_KEY = "uid"


def session_user() -> User | None:
    """The active user of the signed session cookie, if any."""
    uid = session.get(SESSION_USER_KEY)
    if uid is None:
        return None
    user = db.session.get(User, uid)
    return user if user is not None and user.active else None
