"""Patrol tracks (巡查轨迹): where a worker walked while on patrol, one position at a time.

A phone records a position every 30 s or 25 m while a patrol is started and sends the
patrol as one track, or as several (a segment at a time, each with its own ``client_uuid``,
so a closed tab loses nothing); the day's track of a worker joins them in time order. A
point is ``[lat, lon, accuracy_m, recorded_at]`` (or an object with those names), in the
track's ``crs`` (WGS-84, the Geolocation API's, by default); the server stores WGS-84.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.base import Schema
from schemas.common import CRS_CHOICES, ListArgsSchema, UUIDString, page_schema_for
from schemas.coverage import DayOrTime

__all__ = ["MAX_TRACK_POINTS", "MAX_TRACK_HOURS", "TrackPoint", "TrackCreateSchema",
           "TrackSummarySchema", "TrackSchema", "TrackPageSchema", "TrackListArgsSchema",
           "POINT_FIELDS", "MapTrackArgsSchema", "TrackDaySchema", "PatrolArgsSchema",
           "PatrolDaySchema", "PatrolDaysSchema"]

# A 12-hour patrol at one point every 30 s is 1,440 points; a segment holds at most this.
MAX_TRACK_POINTS = 5000
MAX_TRACK_HOURS = 24
POINT_FIELDS = ("lat", "lon", "accuracy_m", "recorded_at")
_TIME = fields.AwareDateTime()
# What the OpenAPI document says of a point. OpenAPI 3.0 has no tuples (``items`` is one
# schema; ``prefixItems`` is 3.1's): the array's items are described together, each a
# number in the widest of the positions' ranges (lon's least, accuracy_m's greatest), a
# date-time or null; the order and each position's own range are in the description.
_ARRAY_POINT = {"type": "array", "minItems": 4, "maxItems": 4,
                "description": "[lat (-90..90), lon (-180..180), accuracy_m (0..100000 m, or "
                               "null), recorded_at (date-time)]",
                "items": {"oneOf": [{"type": "number", "minimum": -180, "maximum": 100_000},
                                    {"type": "string", "format": "date-time"}],
                          "nullable": True}}
_OBJECT_POINT = {"type": "object", "required": ["lat", "lon", "recorded_at"],
                 "additionalProperties": False, "properties": {
                     "lat": {"type": "number", "minimum": -90, "maximum": 90},
                     "lon": {"type": "number", "minimum": -180, "maximum": 180},
                     "accuracy_m": {"type": "number", "minimum": 0, "maximum": 100_000,
                                    "nullable": True},
                     "recorded_at": {"type": "string", "format": "date-time"}}}


def _number(value: Any, name: str, low: float, high: float, *, optional: bool = False,
            ) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name}: not a number.")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValidationError(f"{name}: must lie between {low:g} and {high:g}.")
    return number


class TrackPoint(fields.Field):
    """One position: ``[lat, lon, accuracy_m, recorded_at]`` or ``{lat, lon, ...}``.

    Loads to a dict with those four keys (``accuracy_m`` may be null); checked by hand, not
    by a nested schema, since a track carries thousands of them. Dumps as the array.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, list | tuple):
            if len(value) != len(POINT_FIELDS):
                raise ValidationError("A point is [lat, lon, accuracy_m, recorded_at].")
            raw = dict(zip(POINT_FIELDS, value, strict=True))
        elif isinstance(value, Mapping):
            unknown = set(value) - set(POINT_FIELDS)
            if unknown:
                raise ValidationError(f"Unknown point fields: {', '.join(sorted(unknown))}.")
            raw = dict(value)
            if "lat" not in raw or "lon" not in raw or "recorded_at" not in raw:
                raise ValidationError("A point needs lat, lon and recorded_at.")
        else:
            raise ValidationError("A point is [lat, lon, accuracy_m, recorded_at] or an object.")
        return {
            "lat": _number(raw["lat"], "lat", -90, 90),
            "lon": _number(raw["lon"], "lon", -180, 180),
            "accuracy_m": _number(raw.get("accuracy_m"), "accuracy_m", 0, 100_000,
                                  optional=True),
            "recorded_at": _TIME.deserialize(raw["recorded_at"]),
        }

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        when = value["recorded_at"]
        return [value["lat"], value["lon"], value["accuracy_m"],
                when.isoformat() if isinstance(when, datetime) else when]


class TrackCreateSchema(Schema):
    """A patrol track (or one segment of a patrol) as the phone recorded it."""

    client_uuid = UUIDString(required=True)
    started_at = fields.AwareDateTime(required=True, metadata={
        "description": "when the worker started the patrol (or this segment)"})
    ended_at = fields.AwareDateTime(required=True, metadata={
        "description": "when the patrol (or segment) ended; at most 24 hours after start"})
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES), metadata={
        "description": "the points' coordinate system: wgs84 (the Geolocation API's, the "
                       "default), gcj02 or bd09; answers are always wgs84"})
    points = fields.List(TrackPoint(metadata={"oneOf": [_ARRAY_POINT, _OBJECT_POINT]}),
                         required=True,
                         validate=validate.Length(max=MAX_TRACK_POINTS), metadata={
        "description": "[lat, lon, accuracy_m, recorded_at] (or objects with those names), "
                       "in time order, each within started_at..ended_at",
        "example": [[28.8051, 113.0795, 8.0, "2026-09-29T06:30:00+08:00"]]})

    @validates_schema
    def _in_order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        start, end = data.get("started_at"), data.get("ended_at")
        if start is None or end is None:
            return
        if end < start:
            raise ValidationError("Must not be before started_at.", "ended_at")
        if end - start > timedelta(hours=MAX_TRACK_HOURS):
            raise ValidationError(f"A track lasts at most {MAX_TRACK_HOURS} hours; send a "
                                  "long patrol as several tracks.", "ended_at")
        errors: dict[int, list[str]] = {}
        previous = start
        for index, point in enumerate(data.get("points") or ()):
            when = point["recorded_at"]
            if not start <= when <= end:
                errors[index] = ["recorded_at must lie within started_at..ended_at."]
            elif when < previous:
                errors[index] = ["Points must be in time order."]
            previous = max(previous, when)
            if len(errors) >= 20:
                break
        if errors:
            raise ValidationError(errors, "points")  # type: ignore[arg-type]


class TrackSummarySchema(Schema):
    """A stored track without its points: who, when, how far, how long."""

    id = fields.Integer()
    client_uuid = fields.String()
    worker_id = fields.Integer()
    worker = fields.Function(lambda t: t.worker.display_name)
    community_id = fields.Integer(allow_none=True)
    grid_ids = fields.List(fields.Integer(), metadata={
        "description": "the grids the worker worked in when the track arrived"})
    started_at = fields.AwareDateTime()
    ended_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    duration_s = fields.Float(metadata={"description": "ended_at - started_at, seconds"})
    length_m = fields.Float(metadata={
        "description": "geodesic length along the points (WGS-84 ellipsoid), leaving out "
                       "points whose accuracy is worse than 100 m"})
    point_count = fields.Integer()


class TrackSchema(TrackSummarySchema):
    """A stored track with its points, in WGS-84."""

    points = fields.List(TrackPoint(metadata=_ARRAY_POINT), attribute="point_dicts", metadata={
        "description": "[lat, lon, accuracy_m, recorded_at], WGS-84, UTC"})


TrackPageSchema = page_schema_for(TrackSummarySchema, "TrackPageSchema")


class TrackListArgsSchema(ListArgsSchema):
    """Filters for the track list (``from``/``to`` on ``started_at``; a date is a Beijing
    day, ``to`` excluded)."""

    worker_id = fields.Integer(load_default=None)
    from_ = DayOrTime(load_default=None, data_key="from")
    to = DayOrTime(load_default=None)


class MapTrackArgsSchema(Schema):
    """``?worker=`` (a grid worker may leave it out: their own) and ``?day=`` (Beijing)."""

    worker = fields.Integer(load_default=None, metadata={"description": "the worker's user id"})
    day = fields.Date(required=True)


class TrackDaySchema(Schema):
    """A worker's patrol on one day: the tracks that started that day, in time order."""

    worker_id = fields.Integer()
    day = fields.Date()
    length_m = fields.Float(metadata={"description": "the tracks' lengths added up"})
    duration_s = fields.Float(metadata={
        "description": "time on patrol: the tracks' spans joined where they overlap"})
    tracks = fields.List(fields.Nested(TrackSchema))


class PatrolArgsSchema(Schema):
    """The period (``from``/``to``: Beijing days or times, ``to`` excluded; by default the
    30 days up to now) and optionally one worker."""

    from_ = DayOrTime(load_default=None, data_key="from")
    to = DayOrTime(load_default=None)
    worker_id = fields.Integer(load_default=None)


class PatrolDaySchema(Schema):
    """One worker's patrol on one day (a track counts on the day it started)."""

    day = fields.Date()
    worker_id = fields.Integer()
    worker = fields.String()
    tracks = fields.Integer()
    length_m = fields.Float()
    duration_s = fields.Float(metadata={"description": "the tracks' spans, overlaps once"})
    first_started_at = fields.AwareDateTime()
    last_ended_at = fields.AwareDateTime()


class PatrolDaysSchema(Schema):
    """Patrol length and time per worker per day, newest day first."""

    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    items = fields.List(fields.Nested(PatrolDaySchema))
