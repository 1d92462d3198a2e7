"""``gridwork households``: import and export household lists (CSV or XLSX)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from schemas.common import CRS_CHOICES
from server.cli.friendly import friendly, report_import

__all__ = ["command"]

command = AppGroup("households", help="Household lists (住户): spreadsheet import and export.")


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--community", "community_code", required=True, help="Community code.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
@click.option("--crs", default="wgs84", show_default=True,
              type=click.Choice(CRS_CHOICES),
              help="Coordinate system of the 经度/纬度 columns.")
@friendly
def import_command(file: Path, community_code: str, dry_run: bool, crs: str) -> None:
    """Import FILE (CSV or XLSX; template in the API docs): all or nothing, upsert by code."""
    from server.extensions import db
    from server.services.household_io import import_households
    from server.services.org import get_community

    community = get_community(db.session, community_code)
    report_import(lambda: import_households(db.session, community, file.read_bytes(),
                                            user=None, access=None, crs=crs,
                                            dry_run=dry_run), dry_run)


@command.command("export")
@click.option("--community", "community_code", required=True, help="Community code.")
@click.option("--format", "fmt", default="csv", show_default=True,
              type=click.Choice(["csv", "xlsx"]))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (full, unmasked data: keep it safe).")
@friendly
def export_command(community_code: str, fmt: str, output: Path) -> None:
    """Write the community's households in the import template."""
    from server.extensions import db
    from server.services.household_io import export_households
    from server.services.org import get_community

    community = get_community(db.session, community_code)
    data = export_households(db.session, community, fmt, user=None, access=None)
    output.write_bytes(data)
    click.echo(f"Wrote {output}.")
