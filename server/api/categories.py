"""Report categories: list them; admins add, rename, re-time and retire them."""

from __future__ import annotations

from typing import Any

from schemas.categories import (
    CategoryCreateSchema,
    CategoryListArgsSchema,
    CategorySchema,
    CategoryUpdateSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_user
from server.extensions import db
from server.services import categories as service

__all__ = ["bp"]

bp = Blueprint("categories", __name__, url_prefix="/api/v1",
               description="Report categories (街巷十乱十患)")


@bp.route("/categories")
@auth_required()
@bp.etag
@bp.arguments(CategoryListArgsSchema, location="query")
@bp.response(200, CategorySchema(many=True))
def list_categories(args: dict[str, Any]) -> Any:
    """The categories a report may use (``include_retired=1`` adds the retired ones)."""
    return service.list_categories(db.session, include_retired=args["include_retired"])


@bp.route("/categories", methods=["POST"])
@auth_required("categories.manage")
@bp.arguments(CategoryCreateSchema)
@bp.response(201, CategorySchema)
@bp.alt_response(409, response="CONFLICT")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def add_category(body: dict[str, Any]) -> Any:
    """Add a category (admin)."""
    return service.add_category(db.session, current_user(), body)


@bp.route("/categories/<code>", methods=["PATCH"])
@auth_required("categories.manage")
@bp.arguments(CategoryUpdateSchema)
@bp.response(200, CategorySchema)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def update_category(changes: dict[str, Any], code: str) -> Any:
    """Rename, change the deadline, retire (``active: false``) or bring back a category (admin).

    A retired category stays valid on old reports; new reports may not use it.
    """
    return service.update_category(db.session, current_user(), code, changes)
