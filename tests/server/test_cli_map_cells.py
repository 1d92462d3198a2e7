"""``gridwork map-cells``: rebuild after a load that went around the trigger, and status
with the PostGIS indexes (PostgreSQL); SQLite says plainly that none of it applies."""

from __future__ import annotations

from sqlalchemy import text

from server.extensions import db
from server.models.map_cells import SPATIAL_INDEXES, create_spatial_indexes
from tests.server.test_map_cells import postgresql
from tests.server.visit_support import add_household


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["map-cells", *args])


def _households_in_cells() -> int:
    return int(db.session.execute(text(
        "SELECT coalesce(sum(n), 0) FROM map_cell WHERE level = 18")).scalar())


def test_rebuild_counts_households_the_trigger_did_not_see(app, factory):
    for door in ("101", "102", "103"):
        add_household(factory, "G1", door=door)
    if not postgresql():
        result = _cli(app, "rebuild")
        assert result.exit_code == 0, result.output
        assert "Nothing to rebuild" in result.output and "SQLite" in result.output
        return
    # A bulk load with triggers off: the cells and the changes know nothing of these rows.
    db.session.execute(text("DELETE FROM map_cell"))
    db.session.execute(text("DELETE FROM map_cell_change"))
    db.session.commit()
    assert _households_in_cells() == 0
    result = _cli(app, "rebuild")
    assert result.exit_code == 0, result.output
    db.session.rollback()
    households = db.session.execute(text("SELECT count(*) FROM household")).scalar()
    assert households >= 3
    assert _households_in_cells() == households
    assert db.session.execute(text("SELECT count(*) FROM map_cell_change")).scalar() == 0
    status = _cli(app, "status")
    assert status.exit_code == 0, status.output
    cells = db.session.execute(text("SELECT count(*) FROM map_cell")).scalar()
    assert f"Map cells: {cells}; pending changes: 0;" in status.output


def test_status_finds_and_adds_the_spatial_indexes(app, factory):
    if not postgresql():
        result = _cli(app, "status")
        assert result.exit_code == 0 and "SQLite" in result.output, result.output
        refused = _cli(app, "status", "--add-spatial-indexes")
        assert refused.exit_code != 0 and "PostgreSQL" in refused.output
        return
    has_postgis = db.session.execute(text(
        "SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).scalar()
    # PostGIS installed after the migration: the indexes are not there yet.
    for name in SPATIAL_INDEXES:
        db.session.execute(text(f"DROP INDEX IF EXISTS {name}"))
    db.session.commit()
    try:
        _missing_then_added(app, bool(has_postgis))
    finally:  # the other tests' database keeps its indexes whatever happened here
        db.session.rollback()
        create_spatial_indexes(db.session.connection())
        db.session.commit()


def _missing_then_added(app, has_postgis: bool) -> None:
    before = _cli(app, "status")
    assert before.exit_code == 0, before.output
    assert all(f"{name}: missing" in before.output for name in SPATIAL_INDEXES)
    assert "--add-spatial-indexes" in before.output
    added = _cli(app, "status", "--add-spatial-indexes")
    assert added.exit_code == 0, added.output
    db.session.rollback()
    made = {name for name in SPATIAL_INDEXES if db.session.execute(
        text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar()}
    if has_postgis:
        assert made == set(SPATIAL_INDEXES)
        assert all(f"{name}: present" in added.output for name in SPATIAL_INDEXES)
    else:
        assert "PostGIS: not installed" in added.output
