"""Household import and export with spreadsheets (template: ``household_sheets.py``).

An import is all-or-nothing: every row is checked first, and any problem (row number,
field, problem) stops it; a dry run only reports. Rows are upserted by household code, so
the same file imported twice changes nothing the second time. A masked value
(``138****5678``) keeps the stored number, and sensitive tags the importer may not see are
kept, so an export made by a reader without sensitive access can be edited and imported
back without wiping what that reader could not see.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.households import PHONE_PATTERN, id_number_is_valid
from server.errors import UnprocessableError
from server.geo import CRS, to_wgs84
from server.models import Building, Community, Household, User
from server.models.households import SENSITIVE_TAGS
from server.models.types import utcnow
from server.services.access import Access
from server.services.audit import audit
from server.services.grids import locate_grid
from server.services.household_sheets import (
    ImportProblem,
    check_import_deadline,
    format_tags,
    read_sheet,
    split_tags,
    write_csv,
    write_xlsx,
)
from server.services.households import default_code, ordered_tags, sync_ribbon_tag
from server.services.privacy import mask_id_number, mask_phone, visible_tags
from server.services.scopes import household_scope, require_community_registry
from server.services.visit_policy import apply_schedule, intervals_for, open_ribbons

__all__ = ["ImportResult", "import_households", "export_households"]

_PHONE = re.compile(PHONE_PATTERN)
_OPTIONAL = ("unit", "notes", "phone", "id_number", "members", "tags")


@dataclass
class ImportResult:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the file has no problems."""
        return not self.problems


@dataclass
class _Context:
    session: Session
    community: Community
    crs: CRS
    fields: set[str]
    buildings: dict[str, Building]

    def locate(self, row: int, building: Building | None, lat: float | None,
               lon: float | None, problems: list[ImportProblem]) -> dict[str, Any] | None:
        """Building, grid and WGS-84 point of a row, or ``None`` with a problem."""
        if (lat is None) != (lon is None):
            problems.append(ImportProblem(row, "lat", "经度 and 纬度 go together."))
            return None
        if lat is not None and lon is not None:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                problems.append(ImportProblem(row, "lat", "Not a latitude/longitude."))
                return None
            lat, lon = to_wgs84(lat, lon, self.crs)
        elif building is not None:
            lat, lon = building.lat, building.lon
        else:
            problems.append(ImportProblem(row, "building", "Give 楼栋 or 经度 and 纬度."))
            return None
        grid_id = building.grid_id if building is not None else None
        if grid_id is None:
            grid = locate_grid(self.session, lat, lon)
            if grid is None or grid.community_id != self.community.id:
                problems.append(ImportProblem(row, "lon", "The point is in no grid of the "
                                                          "community."))
                return None
            grid_id = grid.id
        return {"building_id": building.id if building else None, "grid_id": grid_id,
                "lat": lat, "lon": lon}


def _text(cells: dict[str, str], key: str, limit: int, row: int,
          problems: list[ImportProblem], required: bool = False) -> str:
    value = cells.get(key, "")
    if required and not value:
        problems.append(ImportProblem(row, key, "Required."))
    elif len(value) > limit:
        problems.append(ImportProblem(row, key, f"Longer than {limit} characters."))
    return value


def _number(text: str, row: int, key: str, problems: list[ImportProblem]) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        problems.append(ImportProblem(row, key, f"{text!r} is not a number."))
        return None


def _check_numbers(row: int, cells: dict[str, str], values: dict[str, Any],
                   problems: list[ImportProblem]) -> None:
    phone, id_number = cells.get("phone", ""), cells.get("id_number", "")
    if phone and "*" not in phone and not _PHONE.match(phone):
        problems.append(ImportProblem(row, "phone", "Not a phone number."))
    if id_number and "*" not in id_number and not id_number_is_valid(id_number.upper()):
        problems.append(ImportProblem(row, "id_number", "Not a valid 18-character ID number."))
    values["phone"], values["id_number"] = phone or None, id_number.upper() or None
    members = cells.get("members", "")
    if members and not (members.isdigit() and 1 <= int(members) <= 50):
        problems.append(ImportProblem(row, "members", "Give a whole number from 1 to 50."))
    values["members"] = int(members) if members.isdigit() else 1
    tags, unknown = split_tags(cells.get("tags", ""))
    if unknown:
        problems.append(ImportProblem(row, "tags", f"Unknown tag(s): {'、'.join(unknown)}."))
    values["tags"] = ordered_tags(tags)


def check_row(row: int, cells: dict[str, str], ctx: _Context,
              problems: list[ImportProblem]) -> dict[str, Any] | None:
    """One row's values ready to store, or ``None`` with its problems appended."""
    before = len(problems)
    values: dict[str, Any] = {
        "head_name": _text(cells, "head_name", 64, row, problems, required=True),
        "door": _text(cells, "door", 32, row, problems, required=True),
        "unit": _text(cells, "unit", 16, row, problems),
        "notes": _text(cells, "notes", 4000, row, problems)}
    building = None
    if cells.get("building"):
        building = ctx.buildings.get(cells["building"])
        if building is None:
            problems.append(ImportProblem(row, "building",
                                          f"No building {cells['building']} in the community."))
    _check_numbers(row, cells, values, problems)
    lat = _number(cells.get("lat", ""), row, "lat", problems)
    lon = _number(cells.get("lon", ""), row, "lon", problems)
    spot = ctx.locate(row, building, lat, lon, problems) if len(problems) == before else None
    if spot is None:
        return None
    values.update(spot)
    values["code"] = cells.get("code") or default_code(
        building.code if building else None, values["unit"], values["door"])
    if len(values["code"]) > 64:
        problems.append(ImportProblem(row, "code", "Longer than 64 characters."))
        return None
    for key in _OPTIONAL:  # a column the file lacks leaves the stored value alone
        if key not in ctx.fields:
            values.pop(key)
    return values


def _changes(household: Household, values: dict[str, Any], sees: bool,
             has_point: bool) -> dict[str, Any]:
    """The values of a row that differ from the stored household."""
    wanted = dict(values)
    for key in ("phone", "id_number"):
        if wanted.get(key) and "*" in wanted[key]:
            wanted.pop(key)  # masked in an export: keep the stored number
    if "tags" in wanted and not sees:
        hidden = [t for t in household.tags or [] if t in SENSITIVE_TAGS]
        wanted["tags"] = ordered_tags(set(wanted["tags"]) | set(hidden))
    if not has_point and wanted["building_id"] == household.building_id:
        wanted.pop("lat"), wanted.pop("lon")
    diff = {}
    for key, wanted_value in wanted.items():
        current, value = getattr(household, key), wanted_value
        if key in ("lat", "lon"):
            current, value = round(current, 7), round(value, 7)
        elif key == "tags":
            current, value = set(current or []), set(value)
        if current != value:
            diff[key] = wanted_value
    return diff


def _plan(session: Session, community: Community, data: bytes, crs: CRS,
          access: Access | None, result: ImportResult) -> list[tuple[dict[str, Any],
                                                                   Household | None]]:
    sheet = read_sheet(data)
    result.problems += sheet.problems
    result.ignored_columns = sheet.ignored_columns
    result.rows = len(sheet.rows)
    if sheet.problems:  # a missing column would repeat as a problem on every row
        return []
    buildings = {b.code: b for b in session.scalars(select(Building).where(
        Building.community_id == community.id))}
    ctx = _Context(session, community, crs, set(sheet.fields), buildings)
    existing = {h.code: h for h in session.scalars(select(Household).where(
        Household.community_id == community.id))}
    seen: dict[str, int] = {}
    plan: list[tuple[dict[str, Any], Household | None]] = []
    for row, cells in sheet.rows:
        check_import_deadline()
        values = check_row(row, cells, ctx, result.problems)
        if values is None:
            continue
        code = values["code"]
        if code in seen:
            result.problems.append(ImportProblem(
                row, "code", f"Household {code} is also on row {seen[code]}."))
            continue
        seen[code] = row
        household = existing.get(code)
        if household is None:
            masked = [k for k in ("phone", "id_number") if "*" in (values.get(k) or "")]
            result.problems += [ImportProblem(row, k, "Masked, and no stored number to keep.")
                                for k in masked]
            result.created += 1
            plan.append((values, None))
            continue
        sees = access is None or access.sees_sensitive(household.grid_id)
        diff = _changes(household, values, sees, "lat" in ctx.fields)
        if diff:
            result.updated += 1
            plan.append((diff, household))
        else:
            result.unchanged += 1
    result.problems.sort(key=lambda p: p.row)
    return plan


def import_households(session: Session, community: Community, data: bytes, *,
                      user: User | None, access: Access | None, crs: CRS = "wgs84",
                      dry_run: bool = False) -> ImportResult:
    """Check a CSV/XLSX household list and (unless a dry run) upsert it; 422 on problems."""
    require_community_registry(access, community)
    result = ImportResult(dry_run=dry_run)
    plan = _plan(session, community, data, crs, access, result)
    if result.problems and not dry_run:
        raise UnprocessableError(
            f"The file has {len(result.problems)} problem(s); nothing was imported. "
            "Fix them (see problems) and import it again.", slug="import_rejected",
            problems=[asdict(p) for p in result.problems], rows=result.rows)
    if dry_run or not plan:
        return result
    now = utcnow()
    intervals = intervals_for(community)
    ribbons = open_ribbons(session, [h.id for _, h in plan if h is not None])
    touched = []
    for values, household in plan:
        check_import_deadline()
        if household is None:
            defaults = {"unit": "", "notes": "", "members": 1, "tags": []}
            household = Household(community_id=community.id, created_at=now, updated_at=now,
                                   created_by_id=user.id if user else None,
                                   **(defaults | values))
            session.add(household)
        else:
            for key, value in values.items():
                setattr(household, key, value)
        had_ribbon = household.id in ribbons
        apply_schedule(session, household, intervals, ribbons.get(household.id))
        if ("yellow_ribbon" in household.tags) != had_ribbon:
            touched.append(household)  # the tag and the open requests must agree
    session.flush()
    for household in touched:
        sync_ribbon_tag(session, household, user, now)
    audit(session, user, "households_import", "community", community.code,
          created=result.created, updated=result.updated, unchanged=result.unchanged)
    session.flush()
    return result


def export_households(session: Session, community: Community, fmt: str, *,
                      user: User | None, access: Access | None) -> bytes:
    """The community's households in the import template (masked as the reader must see)."""
    query = (select(Household, Building.code).outerjoin(
        Building, Building.id == Household.building_id)
        .where(Household.community_id == community.id).order_by(Household.code))
    if access is not None:
        query = query.where(household_scope(access))
    rows, count = [], 0
    for household, building_code in session.execute(query):
        sees = access is None or access.sees_sensitive(household.grid_id)
        rows.append([
            household.code, building_code or "", household.unit, household.door,
            household.head_name,
            household.phone if sees else mask_phone(household.phone),
            household.id_number if sees else mask_id_number(household.id_number),
            household.members, format_tags(visible_tags(household.tags or [], sees)),
            round(household.lon, 7), round(household.lat, 7), household.notes])
        count += 1
    audit(session, user, "households_export", "community", community.code, rows=count,
          format=fmt)
    session.flush()
    return write_xlsx(rows) if fmt == "xlsx" else write_csv(rows)
