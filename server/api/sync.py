"""Sync for the offline client: ``POST /sync/batch`` and ``GET /sync/changes``."""

from __future__ import annotations

from typing import Any

from flask import current_app

from schemas.sync import (
    SyncBatchResultSchema,
    SyncBatchSchema,
    SyncChangesArgsSchema,
    SyncChangesSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access, current_user
from server.extensions import db
from server.services import sync as sync_service
from server.transactions import checkpoint

__all__ = ["bp"]

bp = Blueprint("sync", __name__, url_prefix="/api/v1",
               description="Offline sync: batch push of queued records, changes since a cursor")


@bp.route("/sync/batch", methods=["POST"])
@auth_required("sync.push")
@bp.arguments(SyncBatchSchema)
@bp.response(200, SyncBatchResultSchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def sync_batch(body: dict[str, Any]) -> Any:
    """Apply up to 200 queued records in order, each on its own.

    Each result carries the status the record's own endpoint would have answered (201 made,
    200 replay, 409 conflict or dependency_missing, 422, 403) and, for an error, its problem
    document. The request as a whole fails only for a bad envelope, no auth or rate limiting.
    """
    checkpoint(db.session)  # the token check's unit ends before the batch's own begins
    return {"results": sync_service.apply_batch(db.session, current_user(), body["records"])}


@bp.route("/sync/changes")
@auth_required("sync.pull")
@bp.arguments(SyncChangesArgsSchema, location="query")
@bp.response(200, SyncChangesSchema)
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def sync_changes(args: dict[str, Any]) -> Any:
    """What changed in my scope since ``since``, oldest first, in pages.

    Households of my grids (masked as my role requires; one that left my grids comes as a
    delete), reports I made or my department holds, categories. Keep ``next_cursor`` and
    send it back as ``since``; pull again at once while ``has_more``.
    """
    lag = float(current_app.config.get("SYNC_CHANGES_LAG_S", sync_service.DEFAULT_LAG_S))
    return sync_service.changes_since(db.session, current_access(), args["since"],
                                      args["limit"], lag_s=lag)
