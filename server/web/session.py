"""The logged-in user of a web page session, for views shared with the API.

Flask's signed cookie holds only a random session id; the session itself is a row on the
server (``web_session``, only the id's hash stored), checked on every request. Logging
out, disabling the user or resetting their password ends it, and every copy of the cookie
stops working at once, not when the cookie's signature ages out.
"""

from __future__ import annotations

from flask import current_app, session

from server.extensions import db
from server.models import User, WebSession
from server.services import auth as auth_service

__all__ = ["session_user", "web_session", "start_session", "end_session", "session_locale",
           "set_session_locale", "SESSION_ID_KEY", "SESSION_LOCALE_KEY"]

SESSION_ID_KEY = "sid"
SESSION_LOCALE_KEY = "lang"


def web_session() -> WebSession | None:
    """The live server-side session the cookie names, if any."""
    session_id = session.get(SESSION_ID_KEY)
    if not isinstance(session_id, str) or not session_id:
        return None
    return auth_service.authenticate_web_session(db.session, session_id)


def session_user() -> User | None:
    """The active user of the cookie's live session, if any."""
    row = web_session()
    return row.user if row is not None else None


def start_session(user: User) -> None:
    """Log ``user`` in: a fresh session (new CSRF token) that ends after a working day."""
    locale = session.get(SESSION_LOCALE_KEY)
    # Clearing drops anything planted before login, including the old CSRF token.
    session.clear()
    if locale:
        session[SESSION_LOCALE_KEY] = locale
    session_id, _row = auth_service.start_web_session(
        db.session, user, ttl_hours=float(current_app.config["WEB_SESSION_HOURS"]))
    session[SESSION_ID_KEY] = session_id
    # The server's row expires after WEB_SESSION_HOURS; so does the cookie (register_web
    # sets the app's permanent_session_lifetime to the same).
    session.permanent = True


def end_session() -> None:
    """Log out: end the server's session, forget the CSRF token, keep the chosen language."""
    session_id = session.get(SESSION_ID_KEY)
    if isinstance(session_id, str) and session_id:
        auth_service.end_web_session(db.session, session_id)
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
