"""Sync: many queued records in one request, and what changed in my scope since my last pull."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import fields, validate

from schemas.base import Schema
from schemas.common import UUIDString

__all__ = [
    "BATCH_KINDS", "BODY_COMPONENTS", "CHANGE_KINDS", "MAX_BATCH", "MAX_CHANGES",
    "SyncRecordSchema", "SyncBatchSchema", "SyncResultSchema", "SyncBatchResultSchema",
    "SyncChangesArgsSchema", "SyncChangeSchema", "SyncChangesSchema",
]

# The order matters to nobody on the wire; the client sends parents before children.
BATCH_KINDS = ("household", "visit", "report", "track")
#: Each kind's body: the component of the schema its own endpoint loads.
BODY_COMPONENTS = {"household": "HouseholdCreate", "visit": "VisitCreate",
                   "report": "ReportCreate", "track": "TrackCreate"}
CHANGE_KINDS = ("household", "report", "category")
MAX_BATCH = 200
MAX_CHANGES = 1000


class SyncRecordSchema(Schema):
    """One queued record: its kind, its device-made id, and the body its own endpoint takes."""

    checked_elsewhere = frozenset({"body"})  # by its kind's schema: a bad body fails alone
    #: In the OpenAPI document: a record is one of the kinds, its body that kind's create
    #: schema (the server loads it so; a bad body fails alone, in its result).
    openapi_rules: ClassVar[dict[str, Any]] = {"oneOf": [
        {"title": f"{kind} record", "required": ["kind", "body"], "properties": {
            "kind": {"type": "string", "enum": [kind]},
            "body": {"$ref": f"#/components/schemas/{component}"}}}
        for kind, component in BODY_COMPONENTS.items()]}

    kind = fields.String(required=True, validate=validate.OneOf(BATCH_KINDS))
    client_uuid = UUIDString(required=True)
    body = fields.Dict(required=True, metadata={
        "description": "HouseholdCreate, VisitCreate, ReportCreate or TrackCreate; its "
                       "client_uuid may be left out (the record's is used) and must match "
                       "if given"})


class SyncBatchSchema(Schema):
    """Up to 200 records, applied in the order given, each on its own."""

    records = fields.List(fields.Nested(SyncRecordSchema), required=True,
                          validate=validate.Length(1, MAX_BATCH))


class SyncResultSchema(Schema):
    """What the record's own endpoint would have answered: its status, id or problem."""

    client_uuid = fields.String()
    kind = fields.String()
    status = fields.Integer(metadata={"description": "201 made, 200 replay, 409, 422, 403..."})
    id = fields.Integer(allow_none=True, metadata={"description": "the server id (2xx only)"})
    # A plain dict: a problem carries extension members (missing, errors...) as they come.
    problem = fields.Dict(allow_none=True, metadata={
        "description": "the problem document (RFC 9457, as ProblemSchema plus extension "
                       "members such as missing) the single endpoint would have answered"})


class SyncBatchResultSchema(Schema):
    """One result per record, in the order sent."""

    results = fields.List(fields.Nested(SyncResultSchema))


class SyncChangesArgsSchema(Schema):
    """``?since=`` the ``next_cursor`` of the last pull (none: everything); ``?limit=``."""

    since = fields.String(load_default=None, validate=validate.Length(max=2000))
    limit = fields.Integer(load_default=500, validate=validate.Range(1, MAX_CHANGES))


class SyncChangeSchema(Schema):
    """One change: an upsert carries the record as its own endpoint shows it to me."""

    kind = fields.String(metadata={"description": "household, report or category"})
    id = fields.Raw(metadata={"description": "integer id; the code for a category"})
    op = fields.String(validate=validate.OneOf(("upsert", "delete")))
    data = fields.Dict(allow_none=True)


class SyncChangesSchema(Schema):
    """A page of changes, oldest first; send ``next_cursor`` back as ``since``."""

    changes = fields.List(fields.Nested(SyncChangeSchema))
    next_cursor = fields.String()
    has_more = fields.Boolean(metadata={"description": "pull again at once with next_cursor"})
    reset = fields.Boolean(metadata={
        "description": "empty the local cache before applying (first pull, or my grids, "
                       "buildings or role changed)"})
