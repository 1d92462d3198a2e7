"""The logged-in user of a web page session (cookie), for views shared with the API."""

from __future__ import annotations

from flask import session

from server.extensions import db
from server.models import User

__all__ = ["session_user", "start_session", "end_session", "session_locale",
           "set_session_locale", "SESSION_USER_KEY", "SESSION_LOCALE_KEY"]

SESSION_USER_KEY = "uid"
SESSION_LOCALE_KEY = "lang"


def session_user() -> User | None:
    """The active user of the signed session cookie, if any."""
    uid = session.get(SESSION_USER_KEY)
    if uid is None:
        return None
    user = db.session.get(User, uid)
    return user if user is not None and user.active else None


def start_session(user: User) -> None:
    """Log ``user`` in: a fresh session (new CSRF token) that expires after a working day."""
    locale = session.get(SESSION_LOCALE_KEY)
    # Clearing drops anything planted before login, including the old CSRF token.
    session.clear()
    if locale:
        session[SESSION_LOCALE_KEY] = locale
    session[SESSION_USER_KEY] = user.id
    # The cookie's signature carries its age; Flask refuses it after the app's
    # permanent_session_lifetime (WEB_SESSION_HOURS, set by register_web).
    session.permanent = True


def end_session() -> None:
    """Log out: forget the user and the CSRF token, keep the chosen language."""
    locale = session.get(SESSION_LOCALE_KEY)
    session.clear()
    if locale:
        session[SESSION_LOCALE_KEY] = locale


def session_locale() -> str | None:
    """The language chosen on the page's switch, if any."""
    value = session.get(SESSION_LOCALE_KEY)
    return str(value) if value else None


def set_session_locale(locale: str) -> None:
    """Remember the language chosen on the page's switch."""
    session[SESSION_LOCALE_KEY] = locale
