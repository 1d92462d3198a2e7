"""The case workflow on the wire: moves, timelines, figures and the weekly report."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.base import Schema
from schemas.common import PointSchema, UUIDString
from schemas.reports import REPORT_STATUSES

__all__ = [
    "CASE_ACTIONS", "CASE_STATUSES", "TransitionSchema", "CaseActorSchema", "CaseStepSchema",
    "CaseStageSchema", "CaseStateSchema", "TransitionResultSchema", "TimelineSchema",
    "CaseStatsArgsSchema", "CaseFiguresSchema", "CaseStatsSchema", "WeeklyArgsSchema",
    "WeeklyReportSchema", "WEEK_PATTERN", "CaseLocationSchema", "StageFigureSchema",
    "OverdueCaseSchema",
]

CASE_ACTIONS = ("accept", "reject", "dispatch", "return", "handle", "verify", "fail_verify",
                "close")
CASE_STATUSES = REPORT_STATUSES  # a case is a report: its status is the report's
WEEK_PATTERN = r"^20\d{2}-W(0[1-9]|[1-4]\d|5[0-3])$"  # a week of DATE_WINDOW


class TransitionSchema(Schema):
    """One move on a case: 立案 accept, 不予立案 reject, 派单 dispatch, 退单 return, 回告 handle,
    核查 verify / fail_verify, 结案 close."""

    action = fields.String(required=True, validate=validate.OneOf(CASE_ACTIONS))
    note = fields.String(load_default="", validate=validate.Length(max=2000),
                         metadata={"description": "Required as the reason for reject, return "
                                                  "and fail_verify"})
    department = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(max=32),
                               metadata={"description": "Department code; required for dispatch"})
    grid = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32),
                         metadata={"description": "Dispatch only: the grid code to place the "
                                                  "case in, whose supervisor checks the fix; "
                                                  "required for a case outside every grid"})
    photo_ids = fields.List(UUIDString(), load_default=list, validate=validate.Length(max=20),
                            metadata={"description": "Uploaded photo ids; handle needs an "
                                                     "after-photo, fail_verify a photo"})
    location = fields.Nested(PointSchema, load_default=None, allow_none=True,
                             metadata={"description": "Where the actor is; required for verify"})
    expected_version = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1),
        metadata={"description": "The case version the client saw; 409 if it changed since"})
    client_uuid = UUIDString(load_default=None, allow_none=True, metadata={
        "description": "The device's id for this move: sending the same move again (after a "
                       "lost answer) answers 200 with the step it made, not a 409"})


class CaseActorSchema(Schema):
    """Who made a step."""

    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()


class CaseLocationSchema(Schema):
    """Where a step was made (WGS-84)."""

    lat = fields.Float()
    lon = fields.Float()


class CaseStepSchema(Schema):
    """One step of the timeline (append-only); step 0 is the report itself."""

    seq = fields.Integer()
    action = fields.String(metadata={"description": "report, one of the moves, or escalate"})
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    at = fields.AwareDateTime()
    actor = fields.Nested(CaseActorSchema, allow_none=True)
    actor_role = fields.String(allow_none=True)
    note = fields.String()
    department = fields.String(allow_none=True)
    photo_ids = fields.List(fields.String())
    location = fields.Nested(CaseLocationSchema, allow_none=True)
    deadline_at = fields.AwareDateTime(allow_none=True)


class CaseStageSchema(Schema):
    """Time spent in one stage: 受理派单, 处置, 核查, 结案."""

    stage = fields.String(metadata={"description": "dispatch, handle, verify or close"})
    name_zh = fields.String()
    started_at = fields.AwareDateTime()
    ended_at = fields.AwareDateTime(allow_none=True)
    seconds = fields.Float()
    duration = fields.String(metadata={"example": "1 h 56 min"})
    open = fields.Boolean(metadata={"description": "The case is in this stage now"})


class CaseStateSchema(Schema):
    """Where a case stands in the workflow."""

    report_id = fields.Integer()
    status = fields.String()
    version = fields.Integer()
    department = fields.String(allow_none=True)
    deadline_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Boolean()
    escalated_at = fields.AwareDateTime(allow_none=True)
    closed_on_time = fields.Boolean(allow_none=True)
    allowed_actions = fields.List(fields.String())


class TransitionResultSchema(CaseStateSchema):
    """The case after a move, and the step the move wrote."""

    step = fields.Nested(CaseStepSchema)


class TimelineSchema(CaseStateSchema):
    """Every step of a case and the time it spent in each stage."""

    steps = fields.List(fields.Nested(CaseStepSchema))
    stages = fields.List(fields.Nested(CaseStageSchema))
    time_in_status = fields.Dict(keys=fields.String(), values=fields.Float())


class CaseStatsArgsSchema(Schema):
    """Reports made from ``from`` to ``to`` (days in Asia/Shanghai, both included)."""

    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)
    community = fields.String(load_default=None, validate=validate.Length(max=32))


class StageFigureSchema(Schema):
    """Median and 90th percentile time of one stage over the cases that went through it."""

    stage = fields.String()
    name_zh = fields.String()
    cases = fields.Integer()
    median_s = fields.Float(allow_none=True)
    p90_s = fields.Float(allow_none=True)


class CaseFiguresSchema(Schema):
    """Counts and rates of a set of cases (whole scope, a department or a grid)."""

    code = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    rank = fields.Integer(allow_none=True)
    reported = fields.Integer()
    accepted = fields.Integer()
    rejected = fields.Integer()
    dispatched = fields.Integer()
    closed = fields.Integer()
    closed_on_time = fields.Integer()
    overdue_open = fields.Integer()
    disposal_rate = fields.Float(allow_none=True, metadata={"description": "closed / dispatched"})
    on_time_rate = fields.Float(allow_none=True,
                                metadata={"description": "closed on time / dispatched"})


class CaseStatsSchema(CaseFiguresSchema):
    """The case funnel, rates, time per stage and the department ranking."""

    from_ = fields.Date(data_key="from")
    to = fields.Date()
    community = fields.String(allow_none=True)
    as_of = fields.AwareDateTime()
    stages = fields.List(fields.Nested(StageFigureSchema))
    departments = fields.List(fields.Nested(CaseFiguresSchema))


class WeeklyArgsSchema(Schema):
    """An ISO week (Monday to Sunday, Asia/Shanghai) and the answer's format."""

    week = fields.String(load_default=None, validate=validate.Regexp(WEEK_PATTERN),
                         metadata={"example": "2026-W47", "description": "Default: this week"})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")))
    community = fields.String(load_default=None, validate=validate.Length(max=32))


class OverdueCaseSchema(Schema):
    """A case that was past its deadline and not closed during the week."""

    report_id = fields.Integer()
    category = fields.String()
    grid = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    status = fields.String()
    dispatched_at = fields.AwareDateTime(allow_none=True)
    deadline_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    overdue_hours = fields.Float()


class WeeklyReportSchema(Schema):
    """The weekly report (周报): the week's figures, per department and grid, overdue cases."""

    week = fields.String()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    as_of = fields.AwareDateTime()
    community = fields.String(allow_none=True)
    summary = fields.Nested(CaseFiguresSchema)
    stages = fields.List(fields.Nested(StageFigureSchema))
    departments = fields.List(fields.Nested(CaseFiguresSchema))
    grids = fields.List(fields.Nested(CaseFiguresSchema))
    overdue = fields.List(fields.Nested(OverdueCaseSchema))
