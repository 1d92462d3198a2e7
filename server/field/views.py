"""The field app's shell, service worker, manifest, strings and settings (/field/...).

None of these answers carries personal data: the shell is the same for every worker, so
the service worker may keep it, and what a worker sees comes from the API with their token.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _

from schemas.cases import CASE_ACTIONS
from schemas.households import HOUSEHOLD_TAGS
from schemas.sync import BATCH_KINDS
from schemas.visits import VISIT_OUTCOMES
from server.field.i18n import FIELD_LOCALES, field_messages
from server.security_headers import CONTENT_SECURITY_POLICY
from server.services.cases import TRANSITIONS

__all__ = ["bp", "register_field", "build_info"]

STATIC = Path(__file__).parent / "static"
BUILD_INFO = STATIC / "app" / "build.json"
SERVICE_NEEDS = ("welfare", "medical", "elderly_care", "employment", "housing", "legal")

bp = Blueprint("field", __name__, url_prefix="/field", template_folder="templates",
               static_folder="static", static_url_path="/static")


@cache
def build_info() -> dict[str, Any]:
    """What ``frontend/field/build.mjs`` wrote: the version and the shell's files."""
    return dict(json.loads(BUILD_INFO.read_text(encoding="utf-8")))


def _asset(name: str) -> str:
    return f"/field/static/app/{name}?v={build_info()['hashes'][name]}"


@cache
def _inline(name: str) -> str:
    text = (STATIC / "app" / name).read_text(encoding="utf-8")
    lowered = text.lower()
    if name.endswith(".js") and ("</script" in lowered or "<!--" in lowered):
        raise RuntimeError(f"{name} would end its <script> early: it cannot be inlined")
    return text


def _json_block(value: Any) -> str:
    # A data block is not run (the CSP has nothing to say about it); "</" must not end it.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


@bp.route("/")
def shell() -> Any:
    """The app shell: the same HTML for everyone, kept by the service worker.

    The script, the stylesheet, the Chinese strings and the settings are inline, so that a
    first visit over a slow link costs one round trip (the CSP names the script's hash).
    """
    with force_locale("zh_CN"):
        title = _("Gridwork field")
    script = _inline("field.js")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    boot = _json_block({"lang": "zh-CN", "messages": field_messages("zh-CN"),
                        "config": _settings()})
    response = Response(render_template(
        "field/index.html", asset=_asset, title=title, version=build_info()["version"],
        script=script, style=_inline("field.css"), boot=boot))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(
        tiles=_tile_source()).replace("script-src 'self'", f"script-src 'self' 'sha256-{digest}'")
    return response


@bp.route("/sw.js")
def service_worker() -> Any:
    """The service worker, from /field/ so that its scope is the whole app."""
    body = (STATIC / "app" / "sw.js").read_bytes()
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/field/"
    return response


@bp.route("/manifest.webmanifest")
def manifest() -> Any:
    """The web app manifest: installable on the home screen, opening the agenda."""
    with force_locale("zh_CN"):
        name, short, about = _("Gridwork field"), _("Grid work"), _(
            "Household visits and patrol reports, with or without signal")
    icons = [{"src": f"/field/static/icons/icon-{size}.png", "sizes": f"{size}x{size}",
              "type": "image/png", "purpose": "any"} for size in (192, 512)]
    icons.append({"src": "/field/static/icons/maskable-512.png", "sizes": "512x512",
                  "type": "image/png", "purpose": "maskable"})
    body = {"name": name, "short_name": short, "description": about, "lang": "zh-CN",
            "start_url": "/field/", "scope": "/field/", "display": "standalone",
            "orientation": "portrait", "background_color": "#ffffff",
            "theme_color": "#b71c1c", "icons": icons}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


@bp.route("/i18n/<lang>.json")
def messages(lang: str) -> Any:
    """Every string of the app in one language, from the pages' catalogue."""
    if lang not in FIELD_LOCALES:
        abort(404)
    return current_app.json.response(field_messages(lang))


def _tiles() -> dict[str, str] | None:
    cfg = current_app.config
    if not cfg.get("MAP_TILE_URL"):
        return None
    return {"url": str(cfg["MAP_TILE_URL"]), "crs": str(cfg.get("MAP_TILE_CRS") or "wgs84"),
            "attribution": str(cfg.get("MAP_TILE_ATTRIBUTION") or "")}


def _tile_source() -> str:
    """The tile host for the CSP's img-src, as server.security_headers allows it."""
    tiles = _tiles()
    if tiles is None or "://" not in tiles["url"]:
        return ""
    scheme, rest = tiles["url"].split("://", 1)
    return f" {scheme}://" + rest.split("/", 1)[0].replace("{s}.", "*.").replace("{s}", "*")


def _settings() -> dict[str, Any]:
    """What the app needs to know offline: outcomes, tags, needs, record kinds, case moves."""
    moves = [{"from": state, "action": action, "to": to, "roles": sorted(str(r) for r in roles)}
             for (state, action), (to, roles) in TRANSITIONS.items()]
    return {"version": build_info()["version"], "outcomes": list(VISIT_OUTCOMES),
            "tags": list(HOUSEHOLD_TAGS), "service_needs": list(SERVICE_NEEDS),
            "actions": list(CASE_ACTIONS), "moves": moves, "batch_kinds": list(BATCH_KINDS),
            "tiles": _tiles(), "timezone": current_app.config.get("TIMEZONE", "Asia/Shanghai")}


@bp.route("/config.json")
def settings() -> Any:
    """The app's settings (also inline in the shell)."""
    return current_app.json.response(_settings())


def _buffer_static(response: Response) -> Response:
    # As the pages do (server.web.views): Flask-Compress never closes a streamed file.
    if (request.path.startswith("/field/static/") and response.is_streamed
            and response.mimetype in current_app.config.get("COMPRESS_MIMETYPES", ())):
        response.direct_passthrough = False
        response.get_data()
    return response


def register_field(app: Flask) -> None:
    """Register the field app's blueprint."""
    app.register_blueprint(bp)
    app.after_request(_buffer_static)
