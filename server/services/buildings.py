"""Buildings (楼栋), for administrators: create one, or import a sheet of them.

A building belongs to the grid named by its grid code, or else to the grid its point lies
in; its community is that grid's, and its code is unique in the community. A point that
lies in another grid than the one named is refused (lat and lon swapped, a typo in the
grid code). An import is all-or-nothing like the household import: every row is checked
first, any problem (row, field, problem) stops it, and a dry run only reports; rows are
upserted by (community, code), so the same file imported twice changes nothing.

Sheet (CSV or XLSX, first sheet, header on row 1, Chinese or English headers):

=========  =======  ==============================================================
header     English  content
=========  =======  ==============================================================
楼栋编号   code     building code, unique in the community (required)
名称       name     name, e.g. 3号楼 (required)
网格       grid     grid code (default: the grid the point lies in)
纬度 经度  lat lon  the building's point (required), WGS-84 unless ``crs`` says otherwise
单元数     units    number of units (单元), default 1
=========  =======  ==============================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ConflictError, UnprocessableError
from server.geo import CRS, to_wgs84
from server.models import Building, Grid, User
from server.services.audit import audit
from server.services.grids import locate_grid
from server.services.household_io import ImportResult
from server.services.household_sheets import (
    Column,
    ImportProblem,
    check_import_deadline,
    read_table,
)

__all__ = ["BUILDING_COLUMNS", "create_building", "import_buildings"]

BUILDING_COLUMNS: list[Column] = [
    ("code", "楼栋编号", ("code", "building_code", "楼栋", "楼号", "楼栋号")),
    ("name", "名称", ("name", "楼栋名称", "building_name")),
    ("grid", "网格", ("grid", "grid_code", "网格编号")),
    ("lat", "纬度", ("lat", "latitude")),
    ("lon", "经度", ("lon", "lng", "longitude")),
    ("units", "单元数", ("units", "单元")),
]
_REQUIRED = ("code", "name", "lat", "lon")
_FIELDS = ("grid_id", "community_id", "name", "lat", "lon", "units")


def create_building(session: Session, actor: User | None, values: Mapping[str, Any]) -> Building:
    """Create one building from ``code``, ``name``, ``lat``, ``lon``, optional ``grid``
    code, ``crs`` and ``units``; 422 for a place that does not fit, 409 for a taken code."""
    problems: list[ImportProblem] = []
    place = _place(session, 0, values.get("grid"), float(values["lat"]), float(values["lon"]),
                   values.get("crs") or "wgs84", problems)
    if place is None:
        raise UnprocessableError("The building cannot be placed; see errors.", errors={
            p.field: [p.problem] for p in problems})
    if _existing(session, place["community_id"], values["code"]) is not None:
        raise ConflictError(f"The community has a building with code {values['code']} "
                            "already.", slug="building_code_taken")
    building = Building(code=values["code"], name=values["name"],
                        units=int(values.get("units") or 1), **place)
    session.add(building)
    session.flush()
    audit(session, actor, "building_created", "building", building.id, code=building.code,
          via="api" if actor is not None else "cli")
    return building


def import_buildings(session: Session, actor: User | None, data: bytes, *, crs: CRS = "wgs84",
                     dry_run: bool = False) -> ImportResult:
    """Create or update the buildings of a CSV or XLSX sheet; 422 ``import_rejected`` (and
    no change) on any problem, which a dry run lists instead."""
    sheet = read_table(data, BUILDING_COLUMNS)
    result = ImportResult(dry_run=dry_run, rows=len(sheet.rows),
                                  problems=list(sheet.problems),
                                  ignored_columns=sheet.ignored_columns)
    if not any(p.row == 1 for p in result.problems):
        result.problems += [ImportProblem(1, key, f"The column {zh} is missing.")
                            for key, zh, _ in BUILDING_COLUMNS
                            if key in _REQUIRED and key not in sheet.fields]
    planned = []
    seen: dict[tuple[int, str], int] = {}
    for row, cells in sheet.rows if not result.problems else ():
        check_import_deadline()
        values = _check_row(session, row, cells, crs, result.problems)
        if values is None:
            continue
        key = (values["community_id"], values["code"])
        if key in seen:
            result.problems.append(ImportProblem(row, "code", f"The same code as row "
                                                              f"{seen[key]}."))
            continue
        seen[key] = row
        planned.append(values)
    if result.problems and not dry_run:
        raise UnprocessableError(
            f"The file has {len(result.problems)} problem(s); nothing was imported. "
            "Fix them (see problems) and import it again.", slug="import_rejected",
            problems=[asdict(p) for p in result.problems], rows=result.rows)
    if result.problems:
        return result
    for values in planned:
        check_import_deadline()
        building = _existing(session, values["community_id"], values["code"])
        if building is None:
            result.created += 1
            if not dry_run:
                session.add(Building(**values))
        elif any(getattr(building, k) != values[k] for k in _FIELDS):
            result.updated += 1
            if not dry_run:
                for name in _FIELDS:
                    setattr(building, name, values[name])
        else:
            result.unchanged += 1
    if not dry_run:
        session.flush()
        audit(session, actor, "buildings_imported", "building", None, created=result.created,
              updated=result.updated, via="api" if actor is not None else "cli")
    return result


def _check_row(session: Session, row: int, cells: Mapping[str, str], crs: CRS,
               problems: list[ImportProblem]) -> dict[str, Any] | None:
    before = len(problems)
    values: dict[str, Any] = {}
    for key, limit in (("code", 32), ("name", 120)):
        text = cells.get(key, "")
        if not text:
            problems.append(ImportProblem(row, key, "Required."))
        elif len(text) > limit:
            problems.append(ImportProblem(row, key, f"Longer than {limit} characters."))
        values[key] = text
    point = [_number(cells.get(key, ""), row, key, problems) for key in ("lat", "lon")]
    units = cells.get("units", "") or "1"
    if not (units.isdigit() and 1 <= int(units) <= 100):
        problems.append(ImportProblem(row, "units", "Give a whole number from 1 to 100."))
    if len(problems) > before or point[0] is None or point[1] is None:
        return None
    place = _place(session, row, cells.get("grid") or None, point[0], point[1], crs, problems)
    if place is None:
        return None
    return {**values, **place, "units": int(units)}


def _number(text: str, row: int, key: str, problems: list[ImportProblem]) -> float | None:
    try:
        number = float(text)
    except ValueError:
        problems.append(ImportProblem(row, key, f"{text!r} is not a number." if text
                                      else "Required."))
        return None
    if not math.isfinite(number):
        problems.append(ImportProblem(row, key, f"{text!r} is not a number."))
        return None
    return number


def _place(session: Session, row: int, grid_code: str | None, lat: float, lon: float,
           crs: CRS, problems: list[ImportProblem]) -> dict[str, Any] | None:
    """The grid, community and WGS-84 point of a building, or ``None`` with a problem."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        problems.append(ImportProblem(row, "lat", "Not a latitude/longitude."))
        return None
    lat, lon = to_wgs84(lat, lon, crs)
    located = locate_grid(session, lat, lon)
    grid = located
    if grid_code is not None:
        grid = session.scalar(select(Grid).where(Grid.code == grid_code))
        if grid is None:
            problems.append(ImportProblem(row, "grid", f"No grid with code {grid_code}."))
            return None
        if located is not None and located.id != grid.id:
            problems.append(ImportProblem(row, "grid", f"The point lies in grid "
                                                       f"{located.code}, not {grid_code}."))
            return None
    if grid is None:
        problems.append(ImportProblem(row, "grid", "The point is in no grid; give the grid "
                                                   "code."))
        return None
    return {"grid_id": grid.id, "community_id": grid.community_id, "lat": lat, "lon": lon}


def _existing(session: Session, community_id: int, code: str) -> Building | None:
    return session.scalar(select(Building).where(Building.community_id == community_id,
                                                 Building.code == code))
