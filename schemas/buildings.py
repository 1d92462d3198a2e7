"""Buildings (楼栋): a new one as administrators create it, a sheet of them to import, and the
building as answered."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import Schema
from schemas.common import CRS_CHOICES

__all__ = ["BuildingCreateSchema", "BuildingSchema", "BuildingImportArgsSchema"]


class BuildingCreateSchema(Schema):
    """A new building: its code (unique in the community), name, point and grid."""

    code = fields.String(required=True, validate=validate.Length(1, 32),
                         metadata={"example": "B3"})
    name = fields.String(required=True, validate=validate.Length(1, 120),
                         metadata={"example": "3号楼"})
    grid = fields.String(load_default=None, validate=validate.Length(1, 32), metadata={
        "description": "Grid code; by default the grid the point lies in"})
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES),
                        metadata={"description": "wgs84 (GPS), gcj02 (AMap, Tencent) or bd09 "
                                                 "(Baidu); answers are always wgs84"})
    units = fields.Integer(load_default=1, validate=validate.Range(1, 100),
                           metadata={"description": "Number of units (单元)"})


class BuildingSchema(Schema):
    """A building as the API answers it (WGS-84)."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    community = fields.Function(lambda b: b.grid.community.code if b.grid else None)
    grid = fields.Function(lambda b: b.grid.code if b.grid else None)
    lat = fields.Float()
    lon = fields.Float()
    units = fields.Integer()


class BuildingImportArgsSchema(Schema):
    """Building sheet import options."""

    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "check every row and report problems; change nothing"})
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES),
                        metadata={"description": "system of the 纬度/经度 columns"})
