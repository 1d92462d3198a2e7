"""User accounts as administrators manage them: the list, a new password, revoking tokens."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import Schema
from schemas.common import ListArgsSchema, page_schema_for

__all__ = ["UserSchema", "UserListArgsSchema", "UserPageSchema", "PasswordResetSchema",
           "TokenRevokeSchema", "TokenRevokeResultSchema"]


#: Every role an account may have (server.models.Role; a test keeps the two the same).
ROLES = ("admin", "secretary", "dispatcher", "department", "supervisor", "grid_worker",
         "building_head")

class UserSchema(Schema):
    """A user account: role, geography, whether it may log in, and any login lock."""

    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String(metadata={"example": "grid_worker"})
    active = fields.Boolean(metadata={"description": "False once disabled: no login, no "
                                                     "token, no web session"})
    community = fields.String(allow_none=True, metadata={"description": "Community code"})
    department = fields.String(allow_none=True, metadata={"description": "Department code"})
    grids = fields.List(fields.String(), metadata={"description": "Grid codes"})
    created_at = fields.AwareDateTime()
    locked_until = fields.AwareDateTime(allow_none=True, metadata={
        "description": "Set while failed logins lock the account; unlock lifts it"})


class UserListArgsSchema(ListArgsSchema):
    """Filters for the user list (paged by id)."""

    role = fields.String(load_default=None, validate=validate.OneOf(ROLES))
    active = fields.Boolean(load_default=None)
    community = fields.String(load_default=None, validate=validate.Length(1, 32),
                              metadata={"description": "Community code"})


UserPageSchema = page_schema_for(UserSchema, "UserPageSchema")


class PasswordResetSchema(Schema):
    """The user's new password (tell it to them; they may change it later)."""

    password = fields.String(required=True, load_only=True, validate=validate.Length(8, 256))


class TokenRevokeSchema(Schema):
    """Which tokens to revoke: one device's (a lost phone), or all of them and the web
    sessions when no device is named."""

    device_id = fields.String(load_default=None, validate=validate.Length(1, 128))


class TokenRevokeResultSchema(Schema):
    """How many tokens and web sessions were live and are now revoked."""

    revoked = fields.Integer()
