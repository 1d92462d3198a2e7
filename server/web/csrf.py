"""CSRF protection for the pages and for API calls that ride on the page's session cookie.

A bearer-token client (the phone app, scripts) cannot be driven by another site, so its
requests need no token; a browser sends the session cookie by itself, so every state-changing
request that authenticates by cookie must prove it comes from our page (``X-CSRFToken``).
"""

from __future__ import annotations

from flask import Flask, request, session
from flask_wtf.csrf import CSRFProtect

from server.web.session import SESSION_ID_KEY

__all__ = ["csrf", "init_csrf", "needs_csrf"]

csrf = CSRFProtect()
_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def needs_csrf() -> bool:
    """Whether this request must carry a CSRF token.

    Every unsafe request to a page under ``/app/``, and every unsafe API request that sends
    no ``Authorization`` header while a session cookie names a user (``security.py`` then
    authenticates it by that cookie).
    """
    if request.method in _SAFE:
        return False
    if request.path.startswith("/app/"):
        return True
    if request.path.startswith("/api/"):
        return not request.headers.get("Authorization") and SESSION_ID_KEY in session
    return False


def init_csrf(app: Flask) -> None:
    """Bind CSRFProtect with the default check off, and check the requests that need it."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def _check_csrf() -> None:
        if app.config.get("WTF_CSRF_ENABLED", True) and needs_csrf():
            csrf.protect()
