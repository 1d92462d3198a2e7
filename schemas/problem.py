"""The error document: RFC 9457 problem details."""

from __future__ import annotations

from marshmallow import Schema, fields

__all__ = ["ProblemSchema"]


class ProblemSchema(Schema):
    """RFC 9457 problem+json; ``errors`` maps field names to messages for 422."""

    type = fields.String(metadata={"example": "/problems/validation"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(metadata={"description": "field name → list of messages (422 only)"})
