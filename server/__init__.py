"""Gridwork server: the Flask application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event

from server.config import Config, load_config

__all__ = ["create_app", "GridworkApp", "__version__"]

__version__ = "0.1.0"
MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


class GridworkApp(Flask):
    """Flask, whose reads outlive a dropped database connection (``server.transactions``)."""

    def dispatch_request(self) -> Any:
        """Run the view; a GET, HEAD or OPTIONS whose connection dropped runs once more."""
        from server.transactions import dispatch_retrying_reads

        return dispatch_retrying_reads(super().dispatch_request)

    def log_exception(self, exc_info: Any) -> None:
        """Log an error raised outside the view (an ``after_request`` commit the database
        dropped), without the values a database error's message may quote."""
        from flask import request

        from server.errors import log_error

        log_error(self.logger, "Exception on %s [%s]", request.path, request.method,
                  error=exc_info[1])


def create_app(config: type[Config] | dict[str, Any] | None = None) -> Flask:
    """Create the app: settings from ``config`` (a class or mapping), then ``GRIDWORK_*``.

    Args:
        config: a Config subclass or a dict of overrides; ``None`` means ``Config``.
    """
    app = GridworkApp(__name__, instance_relative_config=False)
    if isinstance(config, dict):
        app.config.from_object(Config)
        app.config.update(config)
    else:
        app.config.from_object(config or Config)
    app.config.from_prefixed_env("GRIDWORK")
    if isinstance(config, dict):
        app.config.update(config)  # explicit overrides win over the environment
    load_config(app.config)
    Path(app.config["MEDIA_DIR"]).mkdir(parents=True, exist_ok=True)

    _init_extensions(app)
    _register(app)
    return app


def _init_extensions(app: Flask) -> None:
    import server.models  # noqa: F401 - registers every table on the metadata
    from server import jobs, transactions, webhook_sender
    from server.extensions import compress, db, limiter, migrate

    db.init_app(app)
    transactions.init_app(app)  # the request boundary: registered first, so it runs last
    webhook_sender.init_app(app)  # its thread starts on the first wake after a commit
    jobs.init_app(app)  # refuses a job setting this database cannot run, at start
    from server.models.map_cells import include_object

    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True,
                     compare_type=True, include_object=include_object)
    compress.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
    if app.config.get("PROXY_COUNT"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count,  # type: ignore
                                x_host=count)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the secretary's map read while a worker's sync writes; foreign keys are off
    # by default in SQLite and must be switched on per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _register(app: Flask) -> None:
    from server.api import register_api
    from server.api.params import IdConverter
    from server.cli import register_cli
    from server.deadlines import install_request_deadline
    from server.errors import register_error_handlers
    from server.field import register_field
    from server.openrosa import register_openrosa
    from server.request_limits import install_request_limits
    from server.security_headers import install_security_headers
    from server.web.views import register_web

    app.url_map.converters["int"] = IdConverter  # before any rule is bound
    register_api(app)
    register_error_handlers(app)
    install_request_limits(app)
    install_request_deadline(app)
    install_security_headers(app)
    register_cli(app)
    register_web(app)
    register_field(app)
    register_openrosa(app)  # /openrosa: ODK Collect, KoboCollect and Enketo
    logging.getLogger("server").setLevel(app.config.get("LOG_LEVEL", "INFO"))
