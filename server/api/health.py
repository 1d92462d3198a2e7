"""Liveness for the client's connectivity probe and for load balancers."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import text

from server.api.blueprint import Blueprint
from server.extensions import db

__all__ = ["bp"]

bp = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness")


class HealthSchema(Schema):
    """Server status."""

    status = fields.String(metadata={"example": "ok"})
    version = fields.String()
    database = fields.String(metadata={"description": "ok or unreachable"})
    dialect = fields.String()


@bp.route("/health")
@bp.response(200, HealthSchema)
@bp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
def health() -> Any:
    """Whether the server and its database answer."""
    from server import __version__

    body = {"status": "ok", "version": __version__, "database": "ok",
            "dialect": db.engine.dialect.name}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "unreachable" here
        db.session.rollback()
        body.update(status="degraded", database="unreachable")
        return body, 503
    return body
