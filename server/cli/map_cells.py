"""``gridwork map-cells``: the map's pre-aggregated household counts (PostgreSQL).

``rebuild`` counts every cell from the households again: after a bulk load that went around
the trigger (``COPY`` with triggers off, a restore). ``status`` says how many cells and
pending changes there are, as of when, and whether the GiST indexes PostGIS gives the
map's boxes exist; ``--add-spatial-indexes`` makes them (PostGIS installed after the
migration). SQLite, the embedded tier, has neither: the map counts households directly.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

__all__ = ["command"]

command = AppGroup("map-cells", help="The map's pre-aggregated household counts (PostgreSQL).")

_SQLITE = ("SQLite (the embedded tier) keeps no map cells: the map counts households "
           "directly, and there are no PostGIS indexes.")


def _postgresql() -> bool:
    from server.extensions import db

    return bool(db.session.get_bind().dialect.name == "postgresql")


@command.command("rebuild")
def rebuild() -> None:
    """Count every map cell from the households again (after a bulk load with triggers off)."""
    from server.extensions import db
    from server.models.types import utcnow
    from server.services import map_cells

    if not _postgresql():
        click.echo(f"Nothing to rebuild. {_SQLITE}")
        return
    now = utcnow()
    map_cells.rebuild(db.session, now, str(current_app.config["TIMEZONE"]))
    cells = _count("map_cell")
    click.echo(f"Rebuilt the map cells as of {now.isoformat(timespec='seconds')}: "
               f"{cells} cell(s) over all levels.")


def _count(table: str) -> int:
    from sqlalchemy import text

    from server.extensions import db

    return int(db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)  # noqa: S608 - a constant


@command.command("status")
@click.option("--add-spatial-indexes", is_flag=True,
              help="Make the GiST indexes when PostGIS is there (installed after the "
                   "migration); enables PostGIS first when this database user may.")
def status(add_spatial_indexes: bool) -> None:
    """Cells, pending changes, the clock, and the PostGIS indexes of the map."""
    from sqlalchemy import text

    from server.extensions import db
    from server.models.map_cells import SPATIAL_INDEXES, create_spatial_indexes

    if not _postgresql():
        click.echo(_SQLITE)
        if add_spatial_indexes:
            raise click.ClickException("--add-spatial-indexes needs PostgreSQL with PostGIS.")
        return
    session = db.session
    if add_spatial_indexes:
        create_spatial_indexes(session.connection())
    cells, pending = _count("map_cell"), _count("map_cell_change")
    as_of = session.execute(text("SELECT as_of FROM map_cell_clock WHERE id = 1")).scalar()
    postgis = session.execute(text(
        "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
    present = {name for name in SPATIAL_INDEXES if session.execute(
        text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar()}
    click.echo(f"Map cells: {cells}; pending changes: {pending}; counted as of: "
               + (as_of.isoformat(timespec="seconds") if as_of else
                  "never (run gridwork map-cells rebuild)"))
    click.echo(f"PostGIS: {postgis or 'not installed'}")
    for name in SPATIAL_INDEXES:
        click.echo(f"  {name}: {'present' if name in present else 'missing'}")
    if len(present) < len(SPATIAL_INDEXES):
        hint = ("gridwork map-cells status --add-spatial-indexes" if postgis else
                "install PostGIS (docs/operations.md), then gridwork map-cells status "
                "--add-spatial-indexes")
        click.echo(f"Spatial indexes missing: {hint}; restart the servers after.")
