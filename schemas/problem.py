"""The error document: RFC 9457 problem details, with the extension members some types add."""

from __future__ import annotations

from marshmallow import INCLUDE, fields

from schemas.base import Schema
from schemas.households import ImportProblemSchema

__all__ = ["ProblemSchema", "MissingRecordSchema"]


class MissingRecordSchema(Schema):
    """A record the request names that the server has not received yet."""

    kind = fields.String(metadata={"description": "photo or household"})
    client_uuid = fields.String()


class ProblemSchema(Schema):
    """RFC 9457 problem+json: ``type, title, status, detail, instance``, then the extension
    members (RFC 9457 §3.2) some types add; docs/problems.md says which type sends which.

    Every extension member is optional, and members not named here are admitted
    (``additionalProperties``): a client ignores the ones it does not know.
    """

    class Meta:
        unknown = INCLUDE

    type = fields.String(metadata={"example": "/problems/validation"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(metadata={
        "description": "field name → list of messages (validation and the other 422 types)"})
    problems = fields.List(fields.Nested(ImportProblemSchema), metadata={
        "description": "import_rejected: each bad row, field and problem"})
    rows = fields.Integer(metadata={"description": "import_rejected: the rows the file has"})
    missing = fields.List(fields.Nested(MissingRecordSchema), metadata={
        "description": "dependency_missing: the records to send first"})
    client_uuid = fields.String(metadata={
        "description": "conflict: the client_uuid already used for another record"})
    existing_id = fields.Integer(metadata={
        "description": "household_code_taken: the household that has the code"})
    case_status = fields.String(metadata={
        "description": "invalid_transition, stale_version, concurrent_transition: the case's "
                       "status now"})
    version = fields.Integer(metadata={
        "description": "invalid_transition, stale_version, concurrent_transition: the case's "
                       "version now"})
    allowed_actions = fields.List(fields.String(), metadata={
        "description": "invalid_transition, stale_version, concurrent_transition: the moves "
                       "the case's status allows"})
    upload_offset = fields.Integer(metadata={
        "description": "offset_mismatch: the offset to resume the upload from"})

