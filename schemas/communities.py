"""A community's visit policy: how many days between visits, per kind of household."""

from __future__ import annotations

from marshmallow import fields

from schemas.base import Schema
from schemas.households import HOUSEHOLD_TAGS

__all__ = ["VisitPolicySchema", "VisitPolicyUpdateSchema"]

_DAYS = {"description": "days between visits, by household tag (default: untagged)"}


class VisitPolicyUpdateSchema(Schema):
    """The community's overrides; ``{}`` goes back to the defaults."""

    # Checked by the service (each wrong tag named in errors); the document states the shape.
    overrides = fields.Dict(required=True, metadata={
        "description": "tag -> days (1 to 3650); default: untagged households",
        "properties": {tag: {"type": "integer", "minimum": 1, "maximum": 3650}
                       for tag in (*HOUSEHOLD_TAGS, "default")},
        "additionalProperties": False})


class VisitPolicySchema(Schema):
    """The intervals in force in a community, its overrides and the defaults."""

    community = fields.String()
    overrides = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata=_DAYS)
    intervals = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata=_DAYS)
    defaults = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata=_DAYS)
    rescheduled = fields.Integer(metadata={
        "description": "after a change: households whose schedule was recomputed"})
