"""``gridwork buildings create|import``: buildings (楼栋) without SQL."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from schemas.common import CRS_CHOICES
from server.cli.friendly import friendly, report_import

__all__ = ["command"]

command = AppGroup("buildings", help="Buildings (楼栋) in the grids.")


@command.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--lat", type=float, required=True, help="Latitude of the building.")
@click.option("--lon", type=float, required=True, help="Longitude of the building.")
@click.option("--grid", default=None, help="Grid code (default: the grid the point lies in).")
@click.option("--crs", type=click.Choice(CRS_CHOICES), default="wgs84", show_default=True,
              help="Coordinate system of --lat/--lon (gcj02: AMap, bd09: Baidu).")
@click.option("--units", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Number of units (单元).")
@friendly
def create_command(code: str, name: str, lat: float, lon: float, grid: str | None, crs: str,
                   units: int) -> None:
    """Create a building: CODE NAME --lat LAT --lon LON [--grid GRID]."""
    from server.extensions import db
    from server.services.buildings import create_building

    building = create_building(db.session, None, {
        "code": code, "name": name, "lat": lat, "lon": lon, "grid": grid, "crs": crs,
        "units": units})
    grid_code = building.grid.code if building.grid else "-"
    click.echo(f"Created building {code} ({name}) in grid {grid_code}.")


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
@click.option("--crs", type=click.Choice(CRS_CHOICES), default="wgs84", show_default=True,
              help="Coordinate system of the 纬度/经度 columns.")
@friendly
def import_command(file: Path, dry_run: bool, crs: str) -> None:
    """Import FILE (CSV or XLSX: 楼栋编号, 名称, 网格, 纬度, 经度, 单元数): all or nothing,
    upsert by community and code."""
    from server.extensions import db
    from server.services.buildings import import_buildings

    report_import(lambda: import_buildings(db.session, None, file.read_bytes(), crs=crs,
                                           dry_run=dry_run), dry_run)
