"""House visits (入户走访), the needs they raise, and the worker's agenda."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.base import Schema
from schemas.common import (
    CRS_CHOICES,
    ListArgsSchema,
    PointSchema,
    UUIDString,
    page_schema_for,
)
from schemas.coverage import DayOrTime
from schemas.households import HouseholdSummarySchema

__all__ = ["VISIT_OUTCOMES", "NeedSchema", "VisitCreateSchema", "VisitSchema",
           "VisitPageSchema", "VisitListArgsSchema", "NeedReportRequestSchema",
           "NeedReportResultSchema", "AgendaArgsSchema", "AgendaItemSchema", "AgendaSchema",
           "MAX_NEEDS", "MAX_VISIT_PHOTOS"]

VISIT_OUTCOMES = ("met", "not_home", "refused", "moved_out")
MAX_NEEDS = 20
MAX_VISIT_PHOTOS = 10


class NeedSchema(Schema):
    """A need the family raised (诉求); ``create_report`` turns it into a report at once."""

    category = fields.String(required=True, validate=validate.Length(1, 32), metadata={
        "description": "a report category code (garbage, drain...) or a service need "
                       "(welfare, medical...); only report categories can become reports",
        "example": "drain"})
    text = fields.String(load_default="", validate=validate.Length(max=2000))
    create_report = fields.Boolean(load_default=False)


class VisitCreateSchema(Schema):
    """A visit as the phone records it at the door."""

    #: In the OpenAPI document: exactly one of household_id and household_client_uuid.
    openapi_rules: ClassVar[dict[str, Any]] = {"anyOf": [
        {"required": ["household_id"],
         "properties": {"household_id": {"type": "integer"},
                        "household_client_uuid": {"nullable": True, "enum": [None]}}},
        {"required": ["household_client_uuid"],
         "properties": {"household_client_uuid": {"type": "string"},
                        "household_id": {"nullable": True, "enum": [None]}}}]}

    client_uuid = UUIDString(required=True)
    household_id = fields.Integer(load_default=None, metadata={
        "description": "the household's server id; or household_client_uuid"})
    household_client_uuid = UUIDString(load_default=None, metadata={
        "description": "for a household created offline, perhaps in the same sync batch"})
    visited_at = fields.AwareDateTime(required=True)
    location = fields.Nested(PointSchema, required=True, metadata={
        "description": "where the worker stood; proof of presence"})
    outcome = fields.String(required=True, validate=validate.OneOf(VISIT_OUTCOMES))
    notes = fields.String(load_default="", validate=validate.Length(max=4000))
    needs = fields.List(fields.Nested(NeedSchema), load_default=list,
                        validate=validate.Length(max=MAX_NEEDS))
    photo_ids = fields.List(UUIDString(), load_default=list,
                            validate=validate.Length(max=MAX_VISIT_PHOTOS),
                            metadata={"uniqueItems": True})
    follow_up_on = fields.Date(load_default=None, allow_none=True)

    @validates_schema
    def _one_household(self, data: dict[str, Any], **_kwargs: Any) -> None:
        given = [k for k in ("household_id", "household_client_uuid")
                 if data.get(k) is not None]
        if len(given) != 1:
            raise ValidationError("Give exactly one of household_id and household_client_uuid.",
                                  "household_id")
        if len(set(data.get("photo_ids") or [])) != len(data.get("photo_ids") or []):
            raise ValidationError("A photo is listed twice.", "photo_ids")


class VisitPointSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float(allow_none=True)
    crs = fields.String(attribute="input_crs", metadata={
        "description": "the system the phone reported in; lat/lon are WGS-84"})


class NeedOutSchema(Schema):
    """A need of a stored visit, with the report it became (if any)."""

    position = fields.Integer()
    category = fields.String()
    text = fields.String()
    report_id = fields.Integer(allow_none=True)


class VisitSchema(Schema):
    """A stored visit with the server's findings (distance, flags)."""

    id = fields.Integer()
    client_uuid = fields.String()
    household_id = fields.Integer()
    household_code = fields.Function(lambda v: v.household.code)
    worker_id = fields.Integer()
    worker = fields.Function(lambda v: v.worker.display_name)
    grid_id = fields.Integer(allow_none=True)
    visited_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    location = fields.Function(lambda v: VisitPointSchema().dump(v))
    distance_m = fields.Float(metadata={"description": "geodesic, visit point to household"})
    outcome = fields.String()
    notes = fields.String()
    flags = fields.List(fields.String(), metadata={"description": "off_site, late_entry"})
    off_site = fields.Boolean()
    follow_up_on = fields.Date(allow_none=True)
    needs = fields.List(fields.Nested(NeedOutSchema))
    photo_ids = fields.List(fields.String())


VisitPageSchema = page_schema_for(VisitSchema, "VisitPageSchema")


class VisitListArgsSchema(ListArgsSchema):
    """Filters for the visit list."""

    household_id = fields.Integer(load_default=None)
    worker_id = fields.Integer(load_default=None)
    grid = fields.String(load_default=None, metadata={"description": "grid code"})
    outcome = fields.String(load_default=None, validate=validate.OneOf(VISIT_OUTCOMES))
    off_site = fields.Boolean(load_default=None, allow_none=True)
    report_id = fields.Integer(load_default=None, metadata={
        "description": "the visit whose need became this report"})
    from_ = DayOrTime(load_default=None, data_key="from")
    to = DayOrTime(load_default=None)


class NeedReportRequestSchema(Schema):
    """Optional overrides when a need becomes a report."""

    category = fields.String(load_default=None, validate=validate.Length(1, 32), metadata={
        "description": "report category, when the need's own is not one"})
    description = fields.String(load_default=None, validate=validate.Length(max=2000))


class NeedReportResultSchema(Schema):
    """The report a need became (the same one on every repeat)."""

    visit_id = fields.Integer()
    position = fields.Integer()
    report_id = fields.Integer()


class AgendaArgsSchema(Schema):
    """Where I stand (optional) and how many households to list."""

    lat = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(-180, 180))
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))

    @validates_schema
    def _both(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ValidationError("Give both lat and lon, or neither.", "lat")


class AgendaItemSchema(Schema):
    """A household to visit, and why."""

    household = fields.Nested(HouseholdSummarySchema)
    status = fields.String(metadata={"description": "overdue or due"})
    days_overdue = fields.Integer(metadata={"description": "negative: days until overdue"})
    days_since_last_visit = fields.Integer(allow_none=True, metadata={
        "description": "any outcome; null if never visited"})
    days_since_last_met = fields.Integer(allow_none=True)
    distance_m = fields.Float(allow_none=True)
    reasons = fields.List(fields.String(), metadata={
        "description": "codes: yellow_ribbon_open, follow_up (a promised return visit is "
                       "due), never_visited, never_met, overdue, due, tag:<tag>"})


class AgendaSchema(Schema):
    """My agenda: overdue first, then the most vulnerable, the most overdue, the nearest."""

    generated_at = fields.AwareDateTime()
    overdue = fields.Integer(metadata={"description": "overdue households in my grids"})
    due = fields.Integer(metadata={"description": "due (not yet overdue) households"})
    items = fields.List(fields.Nested(AgendaItemSchema))

