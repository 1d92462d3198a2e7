"""Geotagged photo reports (事件上报): what a phone sends, what the API answers, list filters."""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import ValidationError, fields, pre_dump, validate, validates, validates_schema

from schemas.base import Schema
from schemas.common import (
    BBOX_PATTERN,
    ListArgsSchema,
    PointSchema,
    UUIDString,
    page_schema_for,
)

__all__ = ["ReportCreateSchema", "ReportSchema", "ReportListArgsSchema", "ReportPageSchema",
           "ReportGeoJSONArgsSchema", "ReportFeatureCollectionSchema", "BBoxField", "CommaList",
           "REPORT_STATUSES", "FINAL_STATUSES", "OPEN_STATUSES", "MAX_PHOTOS", "REPORT_FLAGS"]

# A report's status walks the case workflow (立案 → 结案); the server's table of moves is in
# server.services.cases.
REPORT_STATUSES = ("reported", "accepted", "rejected", "dispatched", "handled", "verified",
                   "closed")
FINAL_STATUSES = ("rejected", "closed")  # 不予立案, 结案: no move leaves them
OPEN_STATUSES = tuple(s for s in REPORT_STATUSES if s not in FINAL_STATUSES)
REPORT_FLAGS = ("outside_grid", "location_mismatch", "stale_photo", "possible_duplicate")
MAX_PHOTOS = 9


class CommaList(fields.List):
    """A list given as ``?key=a,b`` or ``?key=a&key=b`` (or both)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, str) for item in items):
            raise ValidationError("Give a comma-separated list of values.")
        flat = [part.strip() for item in items for part in item.split(",") if part.strip()]
        return super()._deserialize(flat, attr, data, **kwargs)


_BBOX = re.compile(BBOX_PATTERN)


class BBoxField(fields.Field):
    """A box ``south,west,north,east`` in WGS-84 degrees, loaded as a 4-tuple of floats."""

    default_error_messages = {
        "invalid": "Give the box as south,west,north,east in degrees (WGS-84).",
        "order": "South must not exceed north, nor west exceed east.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not _BBOX.match(value):
            raise self.make_error("invalid")
        try:
            south, west, north, east = (float(part) for part in value.split(","))
        except ValueError as exc:  # wrong count or not numbers
            raise self.make_error("invalid") from exc
        box = (south, west, north, east)
        if not all(math.isfinite(v) for v in box) or not (
                -90 <= south <= 90 and -90 <= north <= 90
                and -180 <= west <= 180 and -180 <= east <= 180):
            raise self.make_error("invalid")
        if south > north or west > east:
            raise self.make_error("order")
        return box


class ReportCreateSchema(Schema):
    """A report as a phone sends it: where, when, what, and the ids of its photos (1 to 9)."""

    client_uuid = UUIDString(required=True, metadata={"description": "Made on the device; "
                                                      "a replay with it answers the first result"})
    category = fields.String(required=True, validate=validate.Length(1, 32),
                             metadata={"example": "garbage"})
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    location = fields.Nested(PointSchema, required=True)
    captured_at = fields.AwareDateTime(required=True, metadata={
        "description": "When the worker saw it (ISO 8601 with offset)"})
    photo_ids = fields.List(UUIDString(), required=True,
                            validate=validate.Length(1, MAX_PHOTOS), metadata={
                                "description": "Client UUIDs of the photos (upload them "
                                               "before or after; 409 dependency_missing "
                                               "until they arrive)"})

    @validates("photo_ids")
    def _distinct_photos(self, value: list[str], **_kwargs: Any) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("A photo may appear only once.")


class _ReporterSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


def _location(report: Any) -> dict[str, Any]:
    return {"lat": report.lat, "lon": report.lon, "accuracy_m": report.accuracy_m,
            "crs": "wgs84"}


class _WithoutDuplicateLink:
    """A report seen by someone who may not read the report it may duplicate: the flag
    stays, the link to the other report goes (``duplicate_hidden`` set by the server)."""

    possible_duplicate_of_id = None

    def __init__(self, report: Any) -> None:
        self._report = report

    def __getattr__(self, name: str) -> Any:
        return getattr(self._report, name)

    @property
    def flag_detail(self) -> dict[str, Any] | None:
        detail = self._report.flag_detail
        if not detail or "possible_duplicate" not in detail:
            return detail  # type: ignore[no-any-return]
        link = {k: v for k, v in detail["possible_duplicate"].items() if k != "report_id"}
        return {**detail, "possible_duplicate": link}


class ReportSchema(Schema):
    """A report as the API answers it; the point is always WGS-84, times UTC."""

    @pre_dump
    def _hide_unseen_duplicate(self, report: Any, **_: Any) -> Any:
        return _WithoutDuplicateLink(report) if getattr(report, "duplicate_hidden", False) \
            else report

    id = fields.Integer(metadata={"description": "The case number"})
    client_uuid = fields.String()
    category = fields.String(attribute="category_code")
    description = fields.String()
    location = fields.Function(_location, metadata={
        "description": "{lat, lon, accuracy_m, crs: wgs84}"})
    captured_at = fields.AwareDateTime()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    grid = fields.Function(lambda r: r.grid.code if r.grid else None,
                           metadata={"description": "Grid code; null outside every grid"})
    photo_ids = fields.Function(lambda r: [p.id for p in r.photos])
    flags = fields.List(fields.String(), metadata={"description": ", ".join(REPORT_FLAGS)})
    flag_detail = fields.Dict(allow_none=True)
    possible_duplicate_of = fields.Integer(attribute="possible_duplicate_of_id", allow_none=True)
    reporter = fields.Nested(_ReporterSchema)
    status = fields.String(metadata={"description": ", ".join(REPORT_STATUSES)})
    version = fields.Integer()
    department = fields.Function(lambda r: r.department.code if r.department else None)
    department_name = fields.Function(lambda r: r.department.name if r.department else None,
                                      metadata={"description": "the department's name, for people"})
    deadline_at = fields.AwareDateTime(allow_none=True)
    accepted_at = fields.AwareDateTime(allow_none=True)
    dispatched_at = fields.AwareDateTime(allow_none=True)
    handled_at = fields.AwareDateTime(allow_none=True)
    verified_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)


ReportPageSchema = page_schema_for(ReportSchema, "ReportPageSchema")


class ReportListArgsSchema(ListArgsSchema):
    """Filters for the report list and map: all optional, combined with AND."""

    grid = fields.String(load_default=None, metadata={"description": "Grid code"})
    category = CommaList(fields.String(validate=validate.Length(1, 32)), load_default=None,
                         metadata={"description": "Category code(s), comma-separated"})
    status = CommaList(fields.String(validate=validate.OneOf(REPORT_STATUSES)),
                       load_default=None,
                       metadata={"description": "Status(es), comma-separated"})
    bbox = BBoxField(load_default=None, metadata={
        "description": "south,west,north,east in WGS-84 decimal degrees (south <= north, "
                       "west <= east)", "type": "string", "pattern": BBOX_PATTERN,
        "example": "28.80,113.07,28.81,113.09"})
    since = fields.AwareDateTime(load_default=None, metadata={
        "description": "Reports created at or after this time"})
    until = fields.AwareDateTime(load_default=None, metadata={
        "description": "Reports created before this time"})
    queue = fields.String(load_default=None, validate=validate.OneOf(("mine",)), metadata={
        "description": "mine: my work queue (dispatcher: reports to accept, cases to dispatch "
                       "or close, overdue cases; department: its open cases; supervisor: "
                       "handled cases to verify in my grids; others: my open reports)"})

    @validates_schema
    def _window(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("since must be before until.", "until")


class ReportGeoJSONArgsSchema(ReportListArgsSchema):
    """The map's filters: as the list, with pages of up to 5,000 points."""

    limit = fields.Integer(load_default=1000, validate=validate.Range(1, 5000))


class _FeatureSchema(Schema):
    type = fields.Constant("Feature")
    id = fields.Integer()
    geometry = fields.Function(lambda r: {"type": "Point", "coordinates": [r.lon, r.lat]})
    # Only what a map needs: never the reporter, the description or the photos.
    properties = fields.Function(lambda r: {
        "id": r.id, "category": r.category_code, "status": r.status, "flags": list(r.flags or []),
        "created_at": r.created_at.isoformat()})


class ReportFeatureCollectionSchema(Schema):
    """Reports as a GeoJSON FeatureCollection (RFC 7946, lon/lat), with a paging cursor."""

    type = fields.Constant("FeatureCollection")
    features = fields.List(fields.Nested(_FeatureSchema))
    next_cursor = fields.String(allow_none=True)
