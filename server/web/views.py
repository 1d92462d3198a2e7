"""The secretary's pages under /app/: login, the visit map and the dashboard.

The pages are HTML shells; their scripts read the data from the JSON API with the session
cookie (``server.api.security`` accepts it) and send ``X-CSRFToken`` on writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import Forbidden, HTTPException

from server.errors import ApiError
from server.extensions import db, login_address_limit
from server.models import User
from server.services import auth as auth_service
from server.services.access import PERMISSIONS, access_for
from server.services.audit import audit
from server.services.map_data import grid_extent
from server.transactions import keep_on_error
from server.web.csrf import init_csrf
from server.web.forms import LocaleForm, LoginForm, LogoutForm
from server.web.i18n import LOCALES, html_lang, init_babel, js_messages
from server.web.session import end_session, session_user, set_session_locale, start_session

__all__ = ["bp", "register_web", "login_required", "PAGE_PERMISSIONS"]

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("web", __name__, url_prefix="/app", template_folder="templates",
               static_folder="static", static_url_path="/static")

# The permissions the scripts ask about to decide which layers and panels to show.
PAGE_PERMISSIONS = ("households.read", "visits.read", "reports.read", "stats.coverage",
                    "stats.cases", "tracks.read")
ROLE_NAMES = {
    "admin": _l("Administrator"), "secretary": _l("Community secretary"),
    "dispatcher": _l("Command centre"), "department": _l("Department"),
    "grid_worker": _l("Grid worker"), "supervisor": _l("Grid supervisor"),
    "building_head": _l("Building head"),
}


def _safe_next(target: str | None) -> str:
    """A redirect target inside /app/ only: never another host (open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/app/") \
                and "\\" not in target and target.isprintable():  # no CR/LF: no header split
            return target
    return url_for("web.map_page")


def login_required(view: F) -> F:
    """Decorate a page: redirect to the login page unless a user is logged in."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = session_user()
        if user is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        g.user = user
        g.access = access_for(db.session, user)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _page_config(user: User) -> dict[str, Any]:
    cfg = current_app.config
    access = access_for(db.session, user)
    return {
        "user": {"id": user.id, "name": user.display_name, "role": user.role},
        "perms": [p for p in PAGE_PERMISSIONS if access.has(p)],
        "api": "/api/v1",
        "tile_url": cfg.get("MAP_TILE_URL") or None,
        "tile_crs": cfg.get("MAP_TILE_CRS") or "wgs84",
        "tile_attribution": cfg.get("MAP_TILE_ATTRIBUTION") or "",
        "timezone": cfg.get("TIMEZONE", "Asia/Shanghai"),
        "points_min_zoom": int(cfg["MAP_POINTS_MIN_ZOOM"]),
        "bounds": grid_extent(db.session, access),
        "locale": html_lang(),
    }


def _render(template: str, **context: Any) -> str:
    user = g.get("user")
    return render_template(
        template, user=user, role_name=ROLE_NAMES.get(user.role, user.role) if user else "",
        page_config=_page_config(user) if user else {}, js_messages=js_messages(),
        html_lang=html_lang(), locales=LOCALES, locale_form=LocaleForm(),
        logout_form=LogoutForm(), **context)


@bp.route("/")
def index() -> Any:
    """The app's entry: the map, or the login page."""
    return redirect(url_for("web.map_page"))


@bp.route("/login", methods=["GET", "POST"])
@login_address_limit(methods=["POST"])
def login() -> Any:
    """Show the login form; on a good username and password start the session."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return _render("login.html", form=form, error=None)
    error = _("Enter your username and password.")
    if form.validate_on_submit():
        try:
            user = auth_service.login(db.session, form.username.data or "",
                                      form.password.data or "")
        except ApiError as exc:
            audit(db.session, None, "login_failed", "user", None,
                  username=(form.username.data or "")[:64], via="web", reason=exc.slug)
            keep_on_error()  # the page answers 401 or 429; the audit row and count stay
            if exc.status == 429:
                return _render("login.html", form=form, error=_(
                    "Too many failed logins. Try again later, or ask the administrator."),
                ), 429, exc.headers
            error = _("Wrong username or password.")
        else:
            start_session(user)
            audit(db.session, user, "login", "user", user.id, via="web")
            return redirect(_safe_next(form.next.data))
    return _render("login.html", form=form, error=error), 401


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End the session and go back to the login page."""
    user = session_user()
    if LogoutForm().validate_on_submit() and user is not None:
        audit(db.session, user, "logout", "user", user.id, via="web")
    end_session()
    return redirect(url_for("web.login"))


@bp.route("/locale", methods=["POST"])
def switch_locale() -> Any:
    """Switch the pages' language (zh_CN or en) and come back to the same page."""
    form = LocaleForm()
    if form.validate_on_submit() and form.locale.data in LOCALES:
        set_session_locale(form.locale.data)
    return redirect(_safe_next(form.next.data) if form.next.data != "/app/login"
                    else url_for("web.login"))


@bp.route("/map")
@login_required
def map_page() -> Any:
    """The visit map: grids by coverage, households by status, visits, tracks and cases."""
    return _render("map.html", page="map")


@bp.route("/dashboard")
@login_required
def dashboard() -> Any:
    """Coverage, overdue priority households, the case funnel and the weekly trend."""
    access = g.access
    if not (access.has("stats.coverage") or access.has("stats.cases")):
        raise Forbidden(_("Your role has no dashboard."))
    return _render("dashboard.html", page="dashboard")


@bp.errorhandler(HTTPException)
def page_error(error: HTTPException) -> Any:
    """A page error in the page's language, with a way back."""
    if g.get("user") is None:
        g.user = session_user()
    return _render("error.html", error=error), error.code or 500


def _no_store(response: Response) -> Response:
    # The pages carry personal data and a CSRF token: never keep them in a shared cache.
    # (CSP and the other security headers come from server.security_headers.)
    if request.path.startswith("/app/") and response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _buffer_static(response: Response) -> Response:
    # Flask-Compress wraps a streamed file in a generator and never closes the file (a
    # ResourceWarning per request); our scripts and styles are small, so hand it bytes.
    if (request.path.startswith("/app/static/") and response.is_streamed
            and response.mimetype in current_app.config.get("COMPRESS_MIMETYPES", ())):
        response.direct_passthrough = False
        response.get_data()  # reads the file; the response closes it when it is closed
    return response


def _favicon() -> Response:
    # Browsers ask for /favicon.ico on pages that name no icon (the API docs): answer it.
    return send_from_directory(Path(__file__).parent / "static", "favicon.ico", max_age=86400)


def register_web(app: Flask) -> None:
    """Register the pages, their languages, CSRF protection and the root redirect."""
    app.permanent_session_lifetime = timedelta(hours=float(app.config["WEB_SESSION_HOURS"]))
    init_babel(app)
    init_csrf(app)
    app.register_blueprint(bp)
    app.after_request(_no_store)
    app.after_request(_buffer_static)
    if not any(rule.rule == "/" for rule in app.url_map.iter_rules()):
        app.add_url_rule("/", "root", lambda: redirect(url_for("web.index")))
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
    missing = set(PAGE_PERMISSIONS) - set(PERMISSIONS)
    if missing:
        raise RuntimeError(f"unknown permissions on the pages: {sorted(missing)}")
