"""The household registry (住户): create, list, read (audited), update, yellow ribbons,
spreadsheet import and export."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from sqlalchemy.orm import selectinload

from schemas.households import (
    HouseholdCreateSchema,
    HouseholdExportArgsSchema,
    HouseholdImportArgsSchema,
    HouseholdListArgsSchema,
    HouseholdLookupSchema,
    HouseholdPageSchema,
    HouseholdSchema,
    HouseholdUpdateSchema,
    ImportResultSchema,
    YellowRibbonCreateSchema,
    YellowRibbonSchema,
)
from server.api.blueprint import Blueprint
from server.api.security import auth_required, current_access, current_user
from server.errors import UnprocessableError
from server.extensions import db
from server.models import Community, Household
from server.models.types import utcnow
from server.services import household_io
from server.services import households as service
from server.services.audit import audit
from server.services.household_sheets import write_csv, write_xlsx
from server.services.org import get_community
from server.services.paging import paginate
from server.services.privacy import household_record, household_summary
from server.services.scopes import require_community_registry

__all__ = ["bp"]

bp = Blueprint("households", __name__, url_prefix="/api/v1",
               description="The household registry (住户): personal data, masked by role")

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILE_DOC = {"content": {"text/csv": {"schema": {"type": "string", "format": "binary"}},
                         XLSX_MIME: {"schema": {"type": "string", "format": "binary"}}}}


@bp.route("/households", methods=["POST"])
@auth_required("households.create")
@bp.arguments(HouseholdCreateSchema)
@bp.response(201, HouseholdSchema)
@bp.alt_response(200, schema=HouseholdSchema, description="A replay: the first household")
@bp.alt_response(409, response="CONFLICT", description="Another body under this client_uuid, "
                 "or the household code is taken (type household_code_taken)")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def create_household(body: dict[str, Any]) -> Any:
    """Register a household in one of my grids (a worker may find one missing, offline).

    It takes its building's point and grid, or its own point's grid. The code defaults to
    building-unit-door. Replays with the same client_uuid and body answer 200.
    """
    household, created = service.create_household(db.session, current_access(), body)
    record = household_record(household, current_access(), utcnow())
    return record if created else (record, 200)


@bp.route("/households")
@auth_required("households.read")
@bp.etag
@bp.arguments(HouseholdListArgsSchema, location="query")
@bp.response(200, HouseholdPageSchema)
def list_households(args: dict[str, Any]) -> Any:
    """Households in my geography, newest first; summaries with the phone masked.

    Filters: community, grid, building_id, tag (repeatable; a sensitive tag only for roles
    that may see it), status (due, overdue, ok; repeatable).
    """
    access, now = current_access(), utcnow()
    query = service.household_query(db.session, access, args, now).options(
        selectinload(Household.building), selectinload(Household.grid))
    rows, cursor = paginate(db.session, query, Household.id, limit=args["limit"],
                            cursor=args["cursor"])
    return {"items": [household_summary(h, access, now) for h in rows], "next_cursor": cursor}


@bp.route("/households/lookup", methods=["POST"])
@auth_required("households.sensitive")
@bp.arguments(HouseholdLookupSchema)
@bp.response(200, HouseholdPageSchema)
def lookup_households(body: dict[str, Any]) -> Any:
    """Find households in my grids by phone number (at most 50; the lookup is audited)."""
    access, now = current_access(), utcnow()
    rows = service.lookup_by_phone(db.session, access, body["phone"])
    audit(db.session, current_user(), "household_lookup", "household", None,
          found=[h.id for h in rows])
    return {"items": [household_summary(h, access, now) for h in rows], "next_cursor": None}


@bp.route("/households/<int:household_id>")
@auth_required("households.read")
@bp.response(200, HouseholdSchema)
@bp.alt_response(403, response="FORBIDDEN")
@bp.alt_response(404, response="NOT_FOUND")
def get_household(household_id: int) -> Any:
    """The full record (numbers masked unless I am its grid's worker or the secretary).

    Every read is written to the audit log: who, when, which household.
    """
    access = current_access()
    household = service.get_household(db.session, access, household_id)
    record = household_record(household, access, utcnow())
    audit(db.session, current_user(), "household_read", "household", household.id,
          masked=record["masked"])
    return record


@bp.route("/households/<int:household_id>", methods=["PATCH"])
@auth_required("households.update")
@bp.arguments(HouseholdUpdateSchema)
@bp.response(200, HouseholdSchema)
@bp.alt_response(403, response="FORBIDDEN")
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def update_household(changes: dict[str, Any], household_id: int) -> Any:
    """Change some fields; a change of tags re-computes when the next visit is due."""
    access = current_access()
    household = service.get_household(db.session, access, household_id)
    household = service.update_household(db.session, access, household, changes)
    return household_record(household, access, utcnow())


@bp.route("/households/<int:household_id>/yellow-ribbon", methods=["POST"])
@auth_required("households.yellow_ribbon")
@bp.arguments(YellowRibbonCreateSchema)
@bp.response(201, YellowRibbonSchema)
@bp.alt_response(200, schema=YellowRibbonSchema, description="Already open: that request")
@bp.alt_response(403, response="FORBIDDEN")
@bp.alt_response(404, response="NOT_FOUND")
def raise_yellow_ribbon(body: dict[str, Any], household_id: int) -> Any:
    """Raise a yellow ribbon (黄丝带): the family asks for help.

    The household goes on its grid workers' agenda at once and is overdue after 3 days; the
    next visit that meets the family closes the request.
    """
    access = current_access()
    household = service.get_household(db.session, access, household_id)
    ribbon, created = service.raise_yellow_ribbon(db.session, access, household, body["note"])
    return ribbon if created else (ribbon, 200)


def _community(code: str | None) -> Community:
    if code:
        return get_community(db.session, code)
    user = current_user()
    if user.community is None:
        raise UnprocessableError("Say which community (?community=CODE).",
                                 errors={"community": ["Required for your role."]})
    return user.community


@bp.route("/households/import", methods=["POST"])
@auth_required("households.import")
@bp.arguments(HouseholdImportArgsSchema, location="query")
@bp.response(200, ImportResultSchema)
@bp.alt_response(403, response="FORBIDDEN")
@bp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Problems in the file "
                 "(type import_rejected, with problems: row, field, problem), a file that "
                 "cannot be read (invalid_file) or unpacks too large (import_too_large); "
                 "nothing changed")
@bp.alt_response(503, response="SERVICE_UNAVAILABLE", description="Ran past the request's "
                 "deadline (deadline_exceeded); nothing changed")
@bp.doc(requestBody={"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}},
    **_FILE_DOC["content"]}})
def import_households(args: dict[str, Any]) -> Any:
    """Import a household list (CSV or XLSX, Chinese or English headers).

    Headers (row 1, any order; English names also accepted): 户号 (code; default
    楼栋-单元-门牌号), 楼栋 (building code), 单元, 门牌号 (required), 户主 (required),
    联系电话, 身份证号, 人口, 标签 (独居老人、高龄、残疾、重病、低保、留守儿童、退役军人、黄丝带),
    经度, 纬度 (own point; else the building's), 备注. Other columns are ignored.
    GET /households/import/template gives an empty one.

    All or nothing, upserting by household code: importing the same file twice changes
    nothing. With dry_run=1 the answer lists every problem and nothing is stored.
    Send the file as multipart field `file`, or as the raw body.
    """
    upload = request.files.get("file")
    data = upload.read() if upload is not None else request.get_data()
    if not data:
        raise UnprocessableError("Send the file (multipart field 'file', or the raw body).",
                                 errors={"file": ["Missing."]})
    community = _community(args["community"])
    return household_io.import_households(
        db.session, community, data, user=current_user(), access=current_access(),
        crs=args["crs"], dry_run=args["dry_run"])


def _file_response(data: bytes, fmt: str, stem: str) -> Response:
    mime = XLSX_MIME if fmt == "xlsx" else "text/csv"  # werkzeug adds "; charset=utf-8"
    response = Response(data, mimetype=mime)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: never in a cache
    return response


@bp.route("/households/export")
@auth_required("households.export")
@bp.arguments(HouseholdExportArgsSchema, location="query")
@bp.doc(responses={200: {"description": "The household list in the import template",
                         **_FILE_DOC}})
def export_households(args: dict[str, Any]) -> Any:
    """The community's households in the import template (masked as my role requires).

    The export is written to the audit log.
    """
    community = _community(args["community"])
    require_community_registry(current_access(), community)
    data = household_io.export_households(db.session, community, args["format"],
                                          user=current_user(), access=current_access())
    return _file_response(data, args["format"], f"households-{community.code}")


@bp.route("/households/import/template")
@auth_required("households.import")
@bp.arguments(HouseholdExportArgsSchema, location="query")
@bp.doc(responses={200: {"description": "An empty import template", **_FILE_DOC}})
def import_template(args: dict[str, Any]) -> Any:
    """The empty import template (header row only)."""
    fmt = args["format"]
    return _file_response(write_xlsx([]) if fmt == "xlsx" else write_csv([]), fmt,
                          "households-template")
