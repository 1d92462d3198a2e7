"""Building blocks shared by the resource schemas: points, times, list paging."""

from __future__ import annotations

from typing import Literal, get_args

from marshmallow import fields, validate

from schemas.base import Schema

__all__ = ["PointSchema", "ListArgsSchema", "PageSchema", "CRS", "CRS_CHOICES",
           "page_schema_for", "UUIDString", "BBOX_PATTERN"]

# The coordinate systems a point may come in: GPS, AMap/Tencent, Baidu (server.geo converts).
CRS = Literal["wgs84", "gcj02", "bd09"]
CRS_CHOICES: tuple[CRS, ...] = get_args(CRS)

_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"  # -90 .. 90, decimal
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"  # -180 .. 180
#: A box ``south,west,north,east`` in decimal WGS-84 degrees, each in its range. (That south
#: does not exceed north, nor west east, is an order between the parts no pattern states.)
BBOX_PATTERN = f"^{_LAT},{_LON},{_LAT},{_LON}$"


class UUIDString(fields.UUID):
    """A UUID that stays a lowercase string after loading (it is a key in JSON and SQL)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        return str(super()._deserialize(value, attr, data, **kwargs))


class PointSchema(Schema):
    """A point as phones report it: lat/lon in a named coordinate system, with GPS accuracy."""

    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90),
                       metadata={"example": 28.8051})
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180),
                       metadata={"example": 113.0795})
    accuracy_m = fields.Float(allow_nan=False, allow_none=True, load_default=None,
                              validate=validate.Range(0, 100_000),
                              metadata={"description": "GPS accuracy radius in metres"})
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES),
                        metadata={"description": "wgs84 (GPS), gcj02 (AMap, Tencent) or bd09 "
                                                 "(Baidu); answers are always wgs84"})


class ListArgsSchema(Schema):
    """Cursor paging for every list: ``?limit=`` (1..500, default 50) and ``?cursor=``."""

    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class PageSchema(Schema):
    """A page of a list: ``items`` and the cursor of the next page (null at the end)."""

    next_cursor = fields.String(allow_none=True)


def page_schema_for(item_schema: type[Schema], name: str) -> type[Schema]:
    """Make a ``{items: [...], next_cursor}`` schema class for ``item_schema``."""
    return type(name, (PageSchema,), {"items": fields.List(fields.Nested(item_schema))})
