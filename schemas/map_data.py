"""The visit map's data: what is in view (bbox, zoom), grid coverage, a worker's day.

Points are WGS-84; the page shifts them to its base map's coordinate system.
"""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.base import Schema
from schemas.common import BBOX_PATTERN
from schemas.visits import VISIT_OUTCOMES

__all__ = ["BBoxField", "PeriodArgsSchema", "MapGridArgsSchema", "MapHouseholdArgsSchema",
           "MapBuildingArgsSchema", "MapVisitArgsSchema", "MapCaseArgsSchema",
           "HouseholdViewSchema",
           "BuildingListSchema", "VisitViewSchema", "WorkerListSchema", "VISIT_OUTCOMES",
           "MAX_VISITS"]

MAX_VISITS = 5000


class BBoxField(fields.String):
    """``south,west,north,east`` in WGS-84 degrees → a 4-tuple of floats."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _BBOX.match(text):
            raise ValidationError("Give four numbers: south,west,north,east.")
        try:
            south, west, north, east = (float(part) for part in text.split(","))
        except ValueError as exc:
            raise ValidationError("Give four numbers: south,west,north,east.") from exc
        if not all(math.isfinite(v) for v in (south, west, north, east)):
            raise ValidationError("The corners must be finite numbers.")
        if not (-90 <= south <= north <= 90):
            raise ValidationError("Need -90 <= south <= north <= 90.")
        if not (-180 <= west <= east <= 180):
            raise ValidationError("Need -180 <= west <= east <= 180.")
        return south, west, north, east


_BBOX = re.compile(BBOX_PATTERN)
_BBOX_DOC = {"description": "south,west,north,east (WGS-84 decimal degrees; south <= north, "
                            "west <= east)",
             "example": "28.79,113.06,28.81,113.09", "pattern": BBOX_PATTERN}


class PeriodArgsSchema(Schema):
    """A period ``[from, to)``; default the 30 days up to now."""

    from_ = fields.AwareDateTime(data_key="from", load_default=None, metadata={
        "description": "start (ISO 8601 with offset); default 30 days before `to`"})
    to = fields.AwareDateTime(load_default=None, metadata={"description": "end; default now"})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("from_") and data.get("to") and data["from_"] >= data["to"]:
            raise ValidationError("`from` must be before `to`.", "from")


class MapGridArgsSchema(PeriodArgsSchema):
    """The grid layer: the reader's grids, those overlapping ``bbox`` when it is given."""

    bbox = BBoxField(load_default=None, metadata={
        **_BBOX_DOC, "description": "south,west,north,east: only the grids whose extent "
                                    "overlaps this box (the map's view); default every grid "
                                    "in scope"})


class MapHouseholdArgsSchema(PeriodArgsSchema):
    """Households in view: clusters when zoomed out, points when zoomed in."""

    bbox = BBoxField(required=True, metadata=_BBOX_DOC)
    zoom = fields.Integer(required=True, validate=validate.Range(0, 22))
    grid = fields.String(load_default=None, metadata={"description": "grid code"})


class MapBuildingArgsSchema(Schema):
    """Buildings in view."""

    bbox = BBoxField(required=True, metadata=_BBOX_DOC)


class MapVisitArgsSchema(PeriodArgsSchema):
    """Visits in view for a period, or with ``worker`` and ``day`` that worker's day in order."""

    bbox = BBoxField(load_default=None, metadata=_BBOX_DOC)
    worker = fields.Integer(load_default=None, metadata={"description": "user id"})
    outcome = fields.String(load_default=None, validate=validate.OneOf(VISIT_OUTCOMES))
    day = fields.Date(load_default=None, metadata={
        "description": "a local day (YYYY-MM-DD): the worker's visits that day in time order "
                       "(巡查轨迹); needs `worker` unless you are that worker"})
    limit = fields.Integer(load_default=2000, validate=validate.Range(0, MAX_VISITS), metadata={
        "description": "most visits listed; 0 for the counts only (a zoomed-out map)"})


class MapCaseArgsSchema(Schema):
    """Cases in view."""

    bbox = BBoxField(load_default=None, metadata=_BBOX_DOC)
    open = fields.Boolean(load_default=False, metadata={"description": "only cases not closed "
                                                                       "or rejected"})
    overdue = fields.Boolean(load_default=False, metadata={"description": "only overdue ones"})


class _CountsSchema(Schema):
    total = fields.Integer()
    ok = fields.Integer(metadata={"description": "visited within policy"})
    due = fields.Integer()
    overdue = fields.Integer()
    ribbon = fields.Integer(metadata={"description": "open yellow-ribbon requests"})
    visited = fields.Integer(metadata={"description": "met at least once in the period"})


class _ClusterSchema(_CountsSchema):
    lat = fields.Float()
    lon = fields.Float()
    count = fields.Integer()


class _PointSchema(Schema):
    id = fields.Integer()
    lat = fields.Float()
    lon = fields.Float()
    status = fields.String(metadata={"description": "ok, due or overdue"})
    ribbon = fields.Boolean()
    visited = fields.Boolean(metadata={"description": "met in the period"})
    grid_id = fields.Integer(allow_none=True)
    label = fields.String(metadata={"description": "building · unit · door (no names)"})


class HouseholdViewSchema(Schema):
    """What the map draws for households: clusters or points, and the counts in view."""

    mode = fields.String(metadata={"description": "clusters or points"})
    zoom = fields.Integer()
    cell_deg = fields.Float(allow_none=True, metadata={"description": "cluster cell edge"})
    counts = fields.Nested(_CountsSchema)
    clusters = fields.List(fields.Nested(_ClusterSchema))
    points = fields.List(fields.Nested(_PointSchema))
    truncated = fields.Boolean()


class _BuildingSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    lat = fields.Float()
    lon = fields.Float()
    grid_id = fields.Integer(allow_none=True)
    households = fields.Integer()


class BuildingListSchema(Schema):
    """Buildings in view with their household counts."""

    items = fields.List(fields.Nested(_BuildingSchema))


class _MapVisitSchema(Schema):
    id = fields.Integer()
    household_id = fields.Integer()
    worker_id = fields.Integer()
    worker = fields.String()
    grid_id = fields.Integer(allow_none=True)
    visited_at = fields.AwareDateTime()
    lat = fields.Float()
    lon = fields.Float()
    distance_m = fields.Float()
    outcome = fields.String()
    off_site = fields.Boolean()


class VisitViewSchema(Schema):
    """Visits in view (newest first) or one worker's day (in time order), with counts."""

    mode = fields.String(metadata={"description": "period or track"})
    total = fields.Integer()
    off_site = fields.Integer()
    by_outcome = fields.Dict(keys=fields.String(), values=fields.Integer())
    truncated = fields.Boolean()
    items = fields.List(fields.Nested(_MapVisitSchema))


class _WorkerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    grids = fields.List(fields.String())


class WorkerListSchema(Schema):
    """The people whose visits the map can filter by."""

    items = fields.List(fields.Nested(_WorkerSchema))
