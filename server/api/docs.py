"""Serve Swagger UI's files from the swagger-ui-bundle wheel, so /api/v1/docs needs no CDN."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, send_from_directory
from flask.typing import ResponseReturnValue

__all__ = ["register"]


def register(app: Flask) -> None:
    """Add the route serving Swagger UI's assets under the configured URL."""
    import swagger_ui_bundle

    assets = Blueprint("docs_assets", __name__)
    prefix = app.config["OPENAPI_SWAGGER_UI_URL"].rstrip("/")

    @assets.route(f"{prefix}/<path:filename>")
    def asset(filename: str) -> ResponseReturnValue:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    @assets.route(f"{prefix}/gridwork-docs-init.js")
    def docs_init() -> ResponseReturnValue:
        return send_from_directory(Path(__file__).parent / "static", "docs-init.js",
                                   max_age=3600)

    app.register_blueprint(assets)
