"""Settings: defaults for the embedded tier, overridden by ``GRIDWORK_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["Config", "TestConfig", "load_config", "DEMO_SECRET_KEY"]

DEMO_SECRET_KEY = "gridwork-demo-not-secret"  # noqa: S105 - refused outside the demo, see load_config


def _instance_dir() -> Path:
    return Path(os.environ.get("GRIDWORK_INSTANCE_DIR", Path.cwd() / "instance")).resolve()


class Config:
    """Embedded default: one community on one machine, SQLite (WAL) and a local photo folder."""

    INSTANCE_DIR: str = str(_instance_dir())
    SECRET_KEY: str | None = None
    DEMO: bool = False
    DATABASE_URL: str | None = None  # default: sqlite:///<instance>/gridwork.db
    MEDIA_DIR: str | None = None  # default: <instance>/media
    # pool_pre_ping: a connection the database dropped (a restart, a terminated backend) is
    # replaced when taken from the pool instead of failing the request. hide_parameters: a
    # failed statement's error (and SQL echo) shows no parameters, which hold names, notes
    # and phone numbers. load_config keeps both when the options are set otherwise.
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}

    # API and OpenAPI (flask-smorest)
    API_TITLE = "Gridwork API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    # Swagger UI is served from the swagger-ui-bundle wheel: no CDN.
    OPENAPI_SWAGGER_UI_URL = "/api/v1/docs/assets/"
    JSON_SORT_KEYS = False

    # Auth
    PASSWORD_HASH_CHEAP: bool = False  # tests only: argon2id at its cheapest parameters
    TOKEN_TTL_HOURS: int = 24 * 30  # a phone on patrol stays logged in for a month
    # Failed logins per username, counted in the database by every worker and login path:
    # this many within the window lock the username for LOGIN_LOCK_MINUTES.
    LOGIN_MAX_FAILURES: int = 5
    LOGIN_FAILURE_WINDOW_MINUTES: float = 15.0
    LOGIN_LOCK_MINUTES: float = 15.0
    LOGIN_RATE_LIMIT: str = "5 per minute"  # failed logins per client address
    RATELIMIT_STORAGE_URI: str = "memory://"  # redis://host:6379/0 for several hosts
    RATELIMIT_HEADERS_ENABLED: bool = True

    # Compression of JSON answers for phones on metered connections
    COMPRESS_MIMETYPES = ["application/json", "application/problem+json", "application/geo+json",
                          "text/html", "text/css", "text/csv", "application/javascript",
                          "text/javascript"]
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_MIN_SIZE = 500

    # A request stops at this deadline where it loops over what the caller sent (the rows of
    # an imported sheet), answering 503 deadline_exceeded (server.deadlines).
    REQUEST_DEADLINE_S: float = 120.0

    # Photos
    MAX_PHOTO_BYTES: int = 25 * 1024 * 1024
    MAX_PHOTO_PIXELS: int = 60_000_000
    UPLOAD_EXPIRY_HOURS: int = 24
    # tus: unfinished uploads one user may keep open, and the bytes they may declare together
    # (429 too_many_uploads past either); how long a PATCH waits for another on the same upload.
    # Above what a phone opens honestly: a day's queued photos sent several at a time, plus
    # uploads a killed app left behind until they expire (a 429 here is waited out for hours).
    MAX_OPEN_UPLOADS_PER_USER: int = 200
    MAX_UPLOAD_BYTES_IN_FLIGHT_PER_USER: int = 2 * 1024 * 1024 * 1024
    UPLOAD_LOCK_WAIT_S: float = 10.0
    MAX_CONTENT_LENGTH: int | None = 32 * 1024 * 1024  # whole request bodies (a photo plus form)

    # Reports and visits
    LOCATION_MISMATCH_M: float = 100.0
    STALE_PHOTO_HOURS: float = 24.0
    DUPLICATE_RADIUS_M: float = 50.0
    DUPLICATE_WINDOW_HOURS: float = 24.0
    OFF_SITE_M: float = 150.0
    OFF_SITE_ACCURACY_CAP_M: float = 100.0
    LATE_VISIT_HOURS: float = 72.0
    CLOCK_SKEW_MINUTES: float = 10.0

    # The case workflow: a supervisor verifies on site, within this radius of the report.
    CASE_VERIFY_RADIUS_M: float = 200.0
    # Department webhooks: sent after the commit by a background thread, retried with
    # backoff (30 s, 60 s, 2 min... capped), given up after WEBHOOK_MAX_ATTEMPTS tries.
    WEBHOOKS_ASYNC: bool = True
    WEBHOOK_TIMEOUT_S: float = 5.0
    WEBHOOK_MAX_ATTEMPTS: int = 8
    WEBHOOK_BACKOFF_S: float = 30.0
    WEBHOOK_BACKOFF_MAX_S: float = 3600.0
    WEBHOOK_POLL_S: float = 60.0

    # Sync: the changes feed resends its last seconds, for transactions that commit late.
    SYNC_CHANGES_LAG_S: float = 30.0

    TIMEZONE = "Asia/Shanghai"

    # Web pages (/app/): a signed session cookie, CSRF on every form and cookie-auth API write
    WEB_SESSION_HOURS: float = 12.0  # a secretary's working day; the cookie is refused after it
    SESSION_COOKIE_HTTPONLY: bool = True
    SESSION_COOKIE_SAMESITE: str = "Lax"
    SESSION_COOKIE_SECURE: bool = False  # set GRIDWORK_SESSION_COOKIE_SECURE=true behind HTTPS
    WTF_CSRF_CHECK_DEFAULT: bool = False  # server.web.csrf decides which requests need a token
    WTF_CSRF_TIME_LIMIT: int | None = None  # the token lives as long as the session
    BABEL_DEFAULT_LOCALE: str = "zh_CN"
    # Base map: a tile URL template ({z}/{x}/{y}) and its coordinate system ('wgs84' for OSM
    # or Tianditu, 'gcj02' for AMap). None draws grids and points on a plain background.
    MAP_TILE_URL: str | None = None
    MAP_TILE_CRS: str = "wgs84"
    MAP_TILE_ATTRIBUTION: str = ""
    MAP_CLUSTER_CELL_PX: int = 64  # cluster cell edge in screen pixels at the requested zoom
    MAP_POINTS_MIN_ZOOM: int = 17  # from this zoom on, households come as single points
    MAP_MAX_POINTS: int = 500  # below this many households in view, points even when zoomed out


class TestConfig(Config):
    """Settings for the test suite: a throwaway database and media folder chosen by the fixtures."""

    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - test only
    LOGIN_RATE_LIMIT = "5 per minute"


def load_config(app_config: dict[str, Any]) -> None:
    """Fill derived defaults and refuse an unsafe production setup.

    Args:
        app_config: ``app.config`` after the class and the ``GRIDWORK_`` environment are applied.
    """
    instance = Path(app_config["INSTANCE_DIR"])
    if not app_config.get("DATABASE_URL"):
        app_config["DATABASE_URL"] = f"sqlite:///{instance / 'gridwork.db'}"
    if not app_config.get("MEDIA_DIR"):
        app_config["MEDIA_DIR"] = str(instance / "media")
    app_config["SQLALCHEMY_DATABASE_URI"] = app_config["DATABASE_URL"]
    _rate_limit_storage(app_config)
    opts = dict(app_config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    opts.update({k: v for k, v in Config.SQLALCHEMY_ENGINE_OPTIONS.items() if k not in opts})
    if app_config["DATABASE_URL"].startswith("sqlite"):
        # One writer at a time: wait for the lock instead of failing at once.
        opts.setdefault("connect_args", {"timeout": 30})
    app_config["SQLALCHEMY_ENGINE_OPTIONS"] = opts
    if not app_config.get("SECRET_KEY"):
        if app_config.get("DEMO") or app_config.get("TESTING"):
            app_config["SECRET_KEY"] = DEMO_SECRET_KEY
        else:
            raise RuntimeError(
                "GRIDWORK_SECRET_KEY is not set. Set it to a long random string "
                "(for example: python -c 'import secrets; print(secrets.token_hex(32))'), "
                "or set GRIDWORK_DEMO=1 for a demo."
            )


def _rate_limit_storage(app_config: dict[str, Any]) -> None:
    # A storage failure raises limits' StorageError, which answers 503 (server.errors), and
    # Redis gives up after 2 s instead of holding the login for the OS's TCP timeout.
    options = dict(app_config.get("RATELIMIT_STORAGE_OPTIONS") or {})
    options.setdefault("wrap_exceptions", True)
    if str(app_config.get("RATELIMIT_STORAGE_URI") or "").startswith("redis"):
        options.setdefault("socket_connect_timeout", 2)
        options.setdefault("socket_timeout", 2)
    app_config["RATELIMIT_STORAGE_OPTIONS"] = options
