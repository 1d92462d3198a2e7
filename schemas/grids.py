"""Grids: listing, importing boundaries, locating a point."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import Schema
from schemas.common import CRS_CHOICES

__all__ = ["GridSchema", "GridImportArgsSchema", "GridImportResultSchema", "LocateArgsSchema",
           "LocateResultSchema", "GridListArgsSchema"]


class GridSchema(Schema):
    """A grid with its boundary as a GeoJSON geometry (WGS-84)."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    community = fields.Function(lambda g: g.community.code)
    boundary = fields.Dict()


class GridListArgsSchema(Schema):
    """Filters for the grid list."""

    community = fields.String(load_default=None)
    with_boundary = fields.Boolean(load_default=True)


class GridImportArgsSchema(Schema):
    """Which community the imported grids belong to."""

    community = fields.String(required=True)


class GridImportResultSchema(Schema):
    """What an import did."""

    created = fields.List(fields.String())
    updated = fields.List(fields.String())


class LocateArgsSchema(Schema):
    """A point to locate."""

    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES))


class LocatedGridSchema(Schema):
    """The grid found for a point."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    community = fields.Function(lambda g: g.community.code)


class LocateResultSchema(Schema):
    """The grid a point falls in, and the point in WGS-84."""

    grid = fields.Nested(LocatedGridSchema)
    lat = fields.Float()
    lon = fields.Float()
