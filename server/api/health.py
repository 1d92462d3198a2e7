"""Liveness for the client's connectivity probe and for load balancers."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import Schema, fields
from sqlalchemy import text

from server.api.blueprint import Blueprint
from server.extensions import db, limiter

__all__ = ["bp"]

bp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness")


class HealthSchema(Schema):
    """Server status."""

    status = fields.String(metadata={"example": "ok"})
    version = fields.String()
    database = fields.String(metadata={"description": "ok or unreachable"})
    dialect = fields.String()
    redis = fields.String(metadata={
        "description": "ok or unreachable; only when login limits are kept in Redis "
                       "(GRIDWORK_RATELIMIT_STORAGE_URI), where logins fail while it is down"})


@bp.route("/health")
@bp.response(200, HealthSchema)
@bp.alt_response(503, schema=HealthSchema,
                 description="The database, or Redis when configured, is unreachable")
def health() -> Any:
    """Whether the server, its database and (when configured) its Redis answer."""
    from server import __version__

    body = {"status": "ok", "version": __version__, "database": "ok",
            "dialect": db.engine.dialect.name}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "unreachable" here
        db.session.rollback()
        body.update(status="degraded", database="unreachable")
    if str(current_app.config.get("RATELIMIT_STORAGE_URI") or "").startswith("redis"):
        body["redis"] = "ok" if limiter.storage.check() else "unreachable"
        if body["redis"] != "ok":
            body["status"] = "degraded"
    return (body, 503) if body["status"] != "ok" else body
