"""Report categories (街巷十乱十患): codes, names in Chinese and English, handling deadlines."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import Schema

__all__ = ["CategorySchema", "CategoryCreateSchema", "CategoryUpdateSchema",
           "CategoryListArgsSchema", "CATEGORY_CODE"]

CATEGORY_CODE = validate.Regexp(r"^[a-z][a-z0-9_]{1,31}$", error=(
    "A code is 2 to 32 lowercase letters, digits or underscores, starting with a letter."))
_NAME = validate.Length(1, 64)
_SLA = validate.Range(1, 24 * 365)


class CategorySchema(Schema):
    """A category as the API answers it."""

    code = fields.String(metadata={"example": "garbage"})
    name_zh = fields.String(metadata={"example": "垃圾"})
    name_en = fields.String(metadata={"example": "Garbage"})
    sla_hours = fields.Integer(metadata={"description": "Handling deadline once dispatched"})
    active = fields.Boolean(metadata={"description": "False once retired: kept for old reports, "
                                                     "refused for new ones"})
    sort = fields.Integer()


class CategoryListArgsSchema(Schema):
    """``?include_retired=1`` lists retired categories too."""

    include_retired = fields.Boolean(load_default=False)


class CategoryCreateSchema(Schema):
    """A new category (admin)."""

    code = fields.String(required=True, validate=CATEGORY_CODE)
    name_zh = fields.String(required=True, validate=_NAME)
    name_en = fields.String(required=True, validate=_NAME)
    sla_hours = fields.Integer(required=True, validate=_SLA)
    sort = fields.Integer(load_default=None, validate=validate.Range(0, 10_000))


class CategoryUpdateSchema(Schema):
    """Changes to a category (admin): rename, new deadline, retire (active=false) or bring back."""

    name_zh = fields.String(validate=_NAME)
    name_en = fields.String(validate=_NAME)
    sla_hours = fields.Integer(validate=_SLA)
    sort = fields.Integer(validate=validate.Range(0, 10_000))
    active = fields.Boolean()
