"""Visit coverage (走访覆盖率) per grid and per worker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from schemas.base import DATE_PATTERN, Schema

__all__ = ["DayOrTime", "CoverageArgsSchema", "CoverageRowSchema", "WorkerCoverageSchema",
           "CoverageSchema"]


class DayOrTime(fields.String):
    """A day (``2026-03-01``: its start, Asia/Shanghai) or an ISO 8601 time with offset.

    Loads to a ``date`` or an aware ``datetime``; the server turns a date into the start of
    that day in its time zone. The document says so: a ``date`` or a ``date-time``, whose
    year lies in the policy window.
    """

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"anyOf": [{"format": "date"}, {"format": "date-time"}],
                    "pattern": DATE_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Give a date (YYYY-MM-DD) or a time with offset.")
        try:
            if len(value) == 10:
                return dt.date.fromisoformat(value)
            moment = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError("Give a date (YYYY-MM-DD) or a time with offset.") from exc
        if moment.tzinfo is None:
            raise ValidationError("A time needs an offset (e.g. +08:00 or Z).")
        return moment

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.isoformat()


class CoverageArgsSchema(Schema):
    """Which grids and which window: ``[from, to)``; by default the last 30 days."""

    community = fields.String(load_default=None, metadata={"description": "community code"})
    grid = fields.String(load_default=None, metadata={"description": "grid code"})
    from_ = DayOrTime(load_default=None, data_key="from", metadata={
        "description": "start, included: a date (its 00:00 Beijing time) or a time"})
    to = DayOrTime(load_default=None, metadata={
        "description": "end, excluded: from=2026-03-01&to=2026-04-01 is March"})

    @validates_schema
    def _one_scope(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("community") and data.get("grid"):
            raise ValidationError("Give community or grid, not both.", "grid")


class CoverageCountsSchema(Schema):
    households = fields.Integer()
    households_visited = fields.Integer(metadata={
        "description": "households with a visit that met the family in the window"})
    coverage_pct = fields.Float(allow_none=True, metadata={
        "description": "100 × households_visited / households (null without households)"})
    visits = fields.Integer()
    off_site_visits = fields.Integer()
    off_site_share = fields.Float(allow_none=True, metadata={
        "description": "off_site_visits / visits (null without visits)"})
    overdue_priority = fields.Integer(metadata={
        "description": "priority households overdue now (not at the end of the window)"})


class CoverageRowSchema(CoverageCountsSchema):
    """One grid."""

    grid_id = fields.Integer()
    grid = fields.String()
    name = fields.String()


class WorkerCoverageSchema(CoverageCountsSchema):
    """One worker: households and overdue counts are those of their grids; visits theirs."""

    worker_id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()


class CoverageSchema(Schema):
    """Coverage in a window, per grid, per worker, and in total."""

    from_ = fields.AwareDateTime(data_key="from")
    to = fields.AwareDateTime()
    generated_at = fields.AwareDateTime()
    grids = fields.List(fields.Nested(CoverageRowSchema))
    workers = fields.List(fields.Nested(WorkerCoverageSchema))
    total = fields.Nested(CoverageCountsSchema)
