"""The map's pre-aggregated grid of households (city tier): counts per square cell and level.

A cell of level ``L`` is ``360 / 2**L`` degrees on a side, numbered from (-90, -180); cells
nest, four to the next level up. ``map_cell`` holds, per level, grid and cell, how many
households there are, where they are on average, and how many are ok, due or overdue and
met since the clock's ``met_since``, all as of the clock's ``as_of``. On PostgreSQL a
trigger on ``household`` appends every change to ``map_cell_change`` (finest level, signed),
and ``services/map_cells.advance`` folds them in and moves the clock; a read adds the
pending changes and the households whose status turned since ``as_of``, so answers are
exact. SQLite (the embedded tier) keeps these tables empty and counts households directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, SmallInteger, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.households import Household
from server.models.types import BigIntPK, UTCDateTime

__all__ = ["MapCell", "MapCellChange", "MapCellClock", "TRIGGER_SQL", "SPATIAL_SQL",
           "SPATIAL_INDEXES", "create_spatial_indexes", "include_object"]


class _Counts:
    """The counted columns, shared by a cell and a change (a change's are signed)."""

    n: Mapped[int] = mapped_column(Integer, default=0)
    lat_sum: Mapped[float] = mapped_column(Float, default=0.0)
    lon_sum: Mapped[float] = mapped_column(Float, default=0.0)
    ribbon: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    due: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    met: Mapped[int] = mapped_column(Integer, default=0)


class MapCell(_Counts, db.Model):  # type: ignore[name-defined,misc]
    """The households of one grid in one cell of one level (grid 0: households of none)."""

    __tablename__ = "map_cell"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    grid_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)  # from the latitude
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)  # from the longitude


class MapCellChange(_Counts, db.Model):  # type: ignore[name-defined,misc]
    """One household's change of contribution to a finest-level cell, not yet folded in."""

    __tablename__ = "map_cell_change"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    grid_id: Mapped[int] = mapped_column(Integer)
    cy: Mapped[int] = mapped_column(Integer)
    cx: Mapped[int] = mapped_column(Integer)


class MapCellClock(db.Model):  # type: ignore[name-defined,misc]
    """The one row saying as of when the cells count (status) and since when ``met`` counts."""

    __tablename__ = "map_cell_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    met_since: Mapped[datetime] = mapped_column(UTCDateTime)


# -- PostgreSQL: the trigger that records every household change, and the spatial indexes.
# The migration (0005) runs the same statements; create_all (the tests) runs them here.

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION gw_household_cells() RETURNS trigger AS $$
DECLARE t timestamptz; s timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(160005);
  SELECT as_of, met_since INTO t, s FROM map_cell_clock WHERE id = 1;
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO map_cell_change (grid_id, cy, cx, n, lat_sum, lon_sum, ribbon, ok, due,
                                 overdue, met)
    VALUES (coalesce(OLD.grid_id, 0), CAST(floor((OLD.lat + 90.0) / 360.0 * 262144) AS INTEGER),
            CAST(floor((OLD.lon + 180.0) / 360.0 * 262144) AS INTEGER), -1, -OLD.lat, -OLD.lon,
            -(CASE WHEN OLD.tags @> '["yellow_ribbon"]'::jsonb THEN 1 ELSE 0 END),
            -(CASE WHEN OLD.moved_out_at IS NULL AND OLD.due_from_at > t THEN 1 ELSE 0 END),
            -(CASE WHEN OLD.moved_out_at IS NULL AND OLD.due_from_at <= t
                    AND OLD.next_due_at > t THEN 1 ELSE 0 END),
            -(CASE WHEN OLD.moved_out_at IS NULL AND OLD.next_due_at <= t THEN 1 ELSE 0 END),
            -(CASE WHEN OLD.last_met_at >= s THEN 1 ELSE 0 END));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO map_cell_change (grid_id, cy, cx, n, lat_sum, lon_sum, ribbon, ok, due,
                                 overdue, met)
    VALUES (coalesce(NEW.grid_id, 0), CAST(floor((NEW.lat + 90.0) / 360.0 * 262144) AS INTEGER),
            CAST(floor((NEW.lon + 180.0) / 360.0 * 262144) AS INTEGER), 1, NEW.lat, NEW.lon,
            CASE WHEN NEW.tags @> '["yellow_ribbon"]'::jsonb THEN 1 ELSE 0 END,
            CASE WHEN NEW.moved_out_at IS NULL AND NEW.due_from_at > t THEN 1 ELSE 0 END,
            CASE WHEN NEW.moved_out_at IS NULL AND NEW.due_from_at <= t
                  AND NEW.next_due_at > t THEN 1 ELSE 0 END,
            CASE WHEN NEW.moved_out_at IS NULL AND NEW.next_due_at <= t THEN 1 ELSE 0 END,
            CASE WHEN NEW.last_met_at >= s THEN 1 ELSE 0 END);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS gw_household_cells ON household;
CREATE TRIGGER gw_household_cells AFTER INSERT OR DELETE OR UPDATE OF
  lat, lon, grid_id, tags, moved_out_at, due_from_at, next_due_at, last_met_at ON household
  FOR EACH ROW EXECUTE FUNCTION gw_household_cells();
"""

# GiST indexes on the points of households, buildings and visits, when PostGIS is there
# (in whichever schema it was installed: the expression names it).
SPATIAL_SQL = """
DO $$
DECLARE gis text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis') THEN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis') THEN
      RETURN;
    END IF;
    BEGIN
      CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public;
    EXCEPTION
      WHEN unique_violation OR duplicate_object THEN NULL;  -- made by another at once
      WHEN insufficient_privilege THEN RETURN;  -- a superuser must enable it: no GiST then
    END;
  END IF;
  SELECT quote_ident(nspname) INTO gis FROM pg_namespace
    WHERE oid = (SELECT extnamespace FROM pg_extension WHERE extname = 'postgis');
  EXECUTE 'CREATE INDEX IF NOT EXISTS gix_household_point ON household USING gist ('
          || gis || '.st_setsrid(' || gis || '.st_makepoint(lon, lat), 4326))';
  EXECUTE 'CREATE INDEX IF NOT EXISTS gix_building_point ON building USING gist ('
          || gis || '.st_setsrid(' || gis || '.st_makepoint(lon, lat), 4326))';
  EXECUTE 'CREATE INDEX IF NOT EXISTS gix_visit_point ON visit USING gist ('
          || gis || '.st_setsrid(' || gis || '.st_makepoint(lon, lat), 4326))';
END $$;
"""



SPATIAL_INDEXES = ("gix_household_point", "gix_building_point", "gix_visit_point")


def create_spatial_indexes(connection: Connection) -> None:
    """Enable PostGIS when its user may and make the GiST indexes (PostgreSQL; idempotent).

    Also for a database migrated before PostGIS was installed (``gridwork map-cells
    status --add-spatial-indexes``); migration 0005 keeps its own copy, as of its revision.
    """
    connection.exec_driver_sql(SPATIAL_SQL)


@event.listens_for(db.metadata, "after_create")
def _postgresql_parts(_target: Any, connection: Connection, **_kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(TRIGGER_SQL)
        create_spatial_indexes(connection)

def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   _compare_to: Any) -> bool:
    """For Alembic's comparison: leave out the GiST indexes SPATIAL_SQL makes (PostGIS only)."""
    return not (type_ == "index" and reflected and (name or "").startswith("gix_"))


# A read finds the households whose status turned since the clock by these three times.
Index("ix_household_due_from", Household.due_from_at)
Index("ix_household_next_due", Household.next_due_at)
Index("ix_household_last_met", Household.last_met_at)
# Coverage per grid reads only this index on PostgreSQL (an index-only scan of the grid's
# households): who lives there, who is a priority and overdue, who was met lately.
Index("ix_household_grid_coverage", Household.grid_id,
      postgresql_include=["id", "moved_out_at", "priority", "next_due_at", "last_met_at"])
