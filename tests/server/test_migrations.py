"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from tests.dbsetup import make_test_database


@pytest.fixture
def fresh_database(tmp_path: Path) -> Any:
    database = make_test_database(tmp_path)
    database.create()
    yield database
    database.drop()


def test_migrations_upgrade_a_fresh_database_to_the_models_schema(fresh_database, tmp_path):
    from flask_migrate import downgrade, upgrade

    from server import create_app
    from server.extensions import db
    from server.models.map_cells import include_object

    app = create_app({"TESTING": True, "DATABASE_URL": fresh_database.url,
                      "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": include_object})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
        downgrade(revision="base")
        remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        db.engine.dispose()


def test_upgrade_twice_is_a_no_op(fresh_database, tmp_path):
    from flask_migrate import upgrade

    from server import create_app
    from server.extensions import db

    app = create_app({"TESTING": True, "DATABASE_URL": fresh_database.url,
                      "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        upgrade()
        engine = create_engine(fresh_database.url)
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        db.engine.dispose()
    assert len(versions) == 1
