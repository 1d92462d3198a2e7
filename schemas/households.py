"""Households (住户): the registry, its lists, yellow-ribbon requests, spreadsheet import."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from schemas.base import Schema
from schemas.common import (
    CRS_CHOICES,
    ListArgsSchema,
    PointSchema,
    UUIDString,
    page_schema_for,
)

__all__ = [
    "HouseholdLookupSchema",
    "HOUSEHOLD_TAGS", "SENSITIVE_TAGS", "TAG_NAMES_ZH", "HOUSEHOLD_STATUSES", "PHONE_PATTERN",
    "id_number_is_valid", "HouseholdCreateSchema", "HouseholdUpdateSchema", "HouseholdSchema",
    "HouseholdSummarySchema", "HouseholdPageSchema", "HouseholdListArgsSchema",
    "YellowRibbonCreateSchema", "YellowRibbonSchema", "HouseholdImportArgsSchema",
    "ImportProblemSchema", "ImportResultSchema", "HouseholdExportArgsSchema",
]

# Most demanding first; the visit interval follows the most demanding tag.
HOUSEHOLD_TAGS = ("yellow_ribbon", "elderly_alone", "seriously_ill", "disabled", "low_income",
                  "left_behind_child", "elderly", "veteran")
TAG_NAMES_ZH = {"yellow_ribbon": "黄丝带", "elderly_alone": "独居老人", "seriously_ill": "重病",
                "disabled": "残疾", "low_income": "低保", "left_behind_child": "留守儿童",
                "elderly": "高龄", "veteran": "退役军人"}
# Shown only to the grid's workers and the community secretary.
SENSITIVE_TAGS = frozenset({"disabled", "seriously_ill", "low_income"})
HOUSEHOLD_STATUSES = ("ok", "due", "overdue", "moved_out")
# Mobile (13812345678, +8613812345678) or landline (0730-5212345); no masks (*).
PHONE_PATTERN = r"^\+?[0-9][0-9 \-]{4,19}$"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# The document states the number's shape; its check digit (ISO 7064 MOD 11-2) no pattern can.
_ID_DOC = {"pattern": r"^[0-9]{17}[0-9Xx]$",
           "description": "18-character resident ID number (居民身份证号), check digit verified"}


def id_number_is_valid(value: str) -> bool:
    """Whether ``value`` is an 18-character resident ID number with a correct check digit."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def _check_id_number(value: str | None) -> None:
    if value is not None and not id_number_is_valid(value):
        raise ValidationError("Not a valid 18-character ID number (check digit wrong?).")


def _tidy_tags(tags: list[str]) -> list[str]:
    return [t for t in HOUSEHOLD_TAGS if t in set(tags)]


class _HouseholdFields(Schema):
    """Fields shared by creation and update."""

    building_id = fields.Integer(allow_none=True, metadata={
        "description": "The building (楼栋); the household takes its point and grid"})
    unit = fields.String(validate=validate.Length(max=16), metadata={"example": "2"})
    door = fields.String(validate=validate.Length(1, 32), metadata={"example": "301"})
    code = fields.String(validate=validate.Length(1, 64), metadata={
        "description": "Household code (户号), unique in the community; default "
                       "building-unit-door"})
    head_name = fields.String(validate=validate.Length(1, 64))
    phone = fields.String(allow_none=True, validate=validate.Regexp(PHONE_PATTERN))
    id_number = fields.String(allow_none=True, validate=_check_id_number, metadata=_ID_DOC)
    members = fields.Integer(validate=validate.Range(1, 50))
    location = fields.Nested(PointSchema, allow_none=True, metadata={
        "description": "Its own point, when it has no building or stands apart from it"})
    tags = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS)),
                       validate=validate.Length(max=len(HOUSEHOLD_TAGS)))
    notes = fields.String(validate=validate.Length(max=4000))

    @post_load
    def _tidy(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for key in ("unit", "door", "code", "head_name", "phone", "notes"):
            if isinstance(data.get(key), str):
                data[key] = data[key].strip()
        if data.get("id_number"):
            data["id_number"] = data["id_number"].upper()
        if "tags" in data:
            data["tags"] = _tidy_tags(data["tags"])
        return data


class HouseholdCreateSchema(_HouseholdFields):
    """A new household; ``client_uuid`` when a device made it (replay-safe)."""

    #: In the OpenAPI document: a building or a point, at least one of them.
    openapi_rules: ClassVar[dict[str, Any]] = {"anyOf": [
        {"required": ["building_id"], "properties": {"building_id": {"type": "integer"}}},
        {"required": ["location"], "properties": {"location": {"type": "object"}}}]}

    client_uuid = UUIDString(load_default=None)
    building_id = fields.Integer(load_default=None, allow_none=True)
    unit = fields.String(load_default="", validate=validate.Length(max=16))
    door = fields.String(required=True, validate=validate.Length(1, 32))
    code = fields.String(load_default=None, validate=validate.Length(1, 64))
    head_name = fields.String(required=True, validate=validate.Length(1, 64))
    phone = fields.String(load_default=None, allow_none=True,
                          validate=validate.Regexp(PHONE_PATTERN))
    id_number = fields.String(load_default=None, allow_none=True, validate=_check_id_number,
                              metadata=_ID_DOC)
    members = fields.Integer(load_default=1, validate=validate.Range(1, 50))
    location = fields.Nested(PointSchema, load_default=None, allow_none=True)
    tags = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS)),
                       load_default=list, validate=validate.Length(max=len(HOUSEHOLD_TAGS)))
    notes = fields.String(load_default="", validate=validate.Length(max=4000))

    @validates_schema
    def _placed(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("building_id") is None and data.get("location") is None:
            raise ValidationError("Give building_id or location.", "location")


class HouseholdUpdateSchema(_HouseholdFields):
    """A partial update: only the fields sent change."""

    moved_out = fields.Boolean(metadata={
        "description": "true: the family has moved away (off the agenda and the counts); "
                       "false: they still live here (undoes a visit's moved_out)"})


class HouseholdPointSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()


class HouseholdSummarySchema(Schema):
    """A household in a list: no ID number or notes, the phone masked."""

    id = fields.Integer()
    client_uuid = fields.String(allow_none=True)
    code = fields.String()
    grid_id = fields.Integer(allow_none=True)
    grid = fields.String(allow_none=True, metadata={"description": "grid code"})
    building_id = fields.Integer(allow_none=True)
    building = fields.String(allow_none=True, metadata={"description": "building code"})
    unit = fields.String()
    door = fields.String()
    head_name = fields.String()
    phone = fields.String(allow_none=True)
    members = fields.Integer()
    location = fields.Nested(HouseholdPointSchema)
    tags = fields.List(fields.String(), metadata={
        "description": "disabled, seriously_ill and low_income only for the grid's workers "
                       "and the community secretary"})
    status = fields.String(metadata={"description": "ok, due, overdue or moved_out"})
    moved_out_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "when a visit (or an edit) recorded that the family moved away"})
    open_yellow_ribbon = fields.Boolean()
    last_visit_at = fields.AwareDateTime(allow_none=True)
    last_met_at = fields.AwareDateTime(allow_none=True)
    visit_interval_days = fields.Integer(metadata={"description": "only with sensitive access"})
    priority = fields.Boolean()
    due_from_at = fields.AwareDateTime()
    next_due_at = fields.AwareDateTime()
    follow_up_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "the day a worker promised to come back (start of that day), until a "
                       "visit meets the family on or after it; only with sensitive access"})
    masked = fields.Boolean(metadata={"description": "whether numbers and tags are masked"})


class HouseholdSchema(HouseholdSummarySchema):
    """The full record; each read is written to the audit log."""

    id_number = fields.String(allow_none=True)
    notes = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


HouseholdPageSchema = page_schema_for(HouseholdSummarySchema, "HouseholdPageSchema")


class HouseholdListArgsSchema(ListArgsSchema):
    """Filters for the household list (all optional, combined with AND)."""

    community = fields.String(load_default=None, metadata={"description": "community code"})
    grid = fields.String(load_default=None, metadata={"description": "grid code"})
    building_id = fields.Integer(load_default=None)
    tag = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_TAGS)), load_default=list,
                      metadata={"description": "repeatable; a household must carry every one"})
    status = fields.List(fields.String(validate=validate.OneOf(HOUSEHOLD_STATUSES)),
                         load_default=list,
                         metadata={"description": "repeatable: due, overdue, ok"})


class HouseholdLookupSchema(Schema):
    """Find households by phone number (in the body, so the number never lands in a log)."""

    phone = fields.String(required=True, validate=validate.Length(5, 32))


class YellowRibbonCreateSchema(Schema):
    """Raise a yellow ribbon (黄丝带) for a household: the family asks for help."""

    note = fields.String(load_default="", validate=validate.Length(max=1000))


class YellowRibbonSchema(Schema):
    """A yellow-ribbon request; a visit that meets the family closes it."""

    id = fields.Integer()
    household_id = fields.Integer()
    raised_by_id = fields.Integer(allow_none=True)
    raised_at = fields.AwareDateTime()
    note = fields.String()
    closed_at = fields.AwareDateTime(allow_none=True)
    closed_by_visit_id = fields.Integer(allow_none=True)


class HouseholdImportArgsSchema(Schema):
    """Spreadsheet import options."""

    community = fields.String(load_default=None, metadata={
        "description": "community code; a secretary's own community by default"})
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "check every row and report problems; change nothing"})
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES),
                        metadata={"description": "system of the 经度/纬度 columns"})


class ImportProblemSchema(Schema):
    """One problem in one row (row 1 is the header line)."""

    row = fields.Integer()
    field = fields.String()
    problem = fields.String()


class ImportResultSchema(Schema):
    """What an import did (or, in a dry run, would do)."""

    dry_run = fields.Boolean()
    ok = fields.Boolean()
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    problems = fields.List(fields.Nested(ImportProblemSchema))
    ignored_columns = fields.List(fields.String(), metadata={
        "description": "headers not in the template (序号...), left out"})


class HouseholdExportArgsSchema(Schema):
    """Spreadsheet export options."""

    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx")))
    community = fields.String(load_default=None)
