"""Logging in and who I am."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import Schema

__all__ = ["TokenRequestSchema", "TokenSchema", "MeSchema", "GridRefSchema",
           "CapturePolicySchema"]


class TokenRequestSchema(Schema):
    """Username and password, and the device asking (for the token list and revocation)."""

    username = fields.String(required=True, validate=validate.Length(1, 64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(1, 256))
    device_id = fields.String(load_default=None, validate=validate.Length(max=128))


class TokenSchema(Schema):
    """A bearer token: shown once, only its hash is kept."""

    token = fields.String(required=True)
    token_type = fields.String(dump_default="Bearer")
    expires_at = fields.AwareDateTime()


class GridRefSchema(Schema):
    """A grid named in another answer."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()


class MeSchema(Schema):
    """The logged-in user, their role and their geography."""

    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    community = fields.Function(lambda u: u.community.code if u.community else None)
    department = fields.Function(lambda u: u.department.code if u.department else None)
    grids = fields.List(fields.Nested(GridRefSchema))
    building_ids = fields.Function(lambda u: [b.id for b in u.buildings])


class CapturePolicySchema(Schema):
    """The thresholds behind the server's flags, so a phone warns at capture with the
    deployment's own figures (a visit farther than ``off_site_m`` plus its GPS accuracy,
    capped at ``off_site_accuracy_cap_m``, is flagged off_site; a photo whose EXIF GPS lies
    more than ``location_mismatch_m`` from its report is flagged location_mismatch)."""

    off_site_m = fields.Float(required=True)
    off_site_accuracy_cap_m = fields.Float(required=True)
    location_mismatch_m = fields.Float(required=True)
    duplicate_radius_m = fields.Float(required=True)
    duplicate_window_hours = fields.Float(required=True)
