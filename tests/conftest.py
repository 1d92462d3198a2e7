"""Fixtures shared by the whole suite: the app on SQLite or PostgreSQL, clients, users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.browser import launch_browser
from tests.dbsetup import TestDatabase, make_test_database
from tests.factories import Factory


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session (pages, field app, Enketo)."""
    yield from launch_browser()


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """The database of this run, created once and dropped at the end."""
    database = make_test_database(tmp_path_factory.mktemp("db"))
    database.create()
    yield database
    database.drop()


@pytest.fixture(scope="session")
def app_config(test_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory,
               ) -> dict[str, Any]:
    """Settings for the app under test (also handed to live server processes)."""
    instance = tmp_path_factory.mktemp("instance")
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "INSTANCE_DIR": str(instance),
        "DATABASE_URL": test_database.url,
        "MEDIA_DIR": str(instance / "media"),
        "RATELIMIT_STORAGE_URI": "memory://",
        "PASSWORD_HASH_CHEAP": True,  # argon2id at its cheapest: speed, not strength, in tests
    }


@pytest.fixture(scope="session")
def _migrated_app(app_config: dict[str, Any]) -> Iterator[Flask]:
    from server import create_app
    from server.extensions import db

    app = create_app(dict(app_config))
    with app.app_context():
        # The schema comes from the models here; tests/server/test_migrations.py proves the
        # Alembic migrations build the same schema.
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # close pooled connections before the schema is dropped


def _clean(app: Flask) -> None:
    """Empty every table. DELETE, not TRUNCATE: on a few hundred rows it is ten times faster
    on PostgreSQL (TRUNCATE swaps files for every table and index)."""
    from server.extensions import db

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def app(_migrated_app: Flask) -> Iterator[Flask]:
    """The app, on a clean database; the rate limiter starts empty."""
    from server.extensions import limiter

    _clean(_migrated_app)
    limiter.reset()
    with _migrated_app.app_context():
        yield _migrated_app
    _clean(_migrated_app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Any:
    """The Flask-SQLAlchemy handle, inside an app context."""
    from server.extensions import db as _db

    return _db


@pytest.fixture
def factory(app: Flask, client: FlaskClient) -> Factory:
    """Test data: communities, grids, buildings, users with tokens."""
    return Factory(app, client)


@pytest.fixture
def media_dir(app: Flask) -> Path:
    """The folder photos are stored in for this run."""
    return Path(app.config["MEDIA_DIR"])


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Iterator[Any]:
    """Build extra app instances (other settings); their connections are closed afterwards."""
    from server import create_app
    from server.extensions import db as _db

    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        extra = create_app({**app_config, **overrides})
        made.append(extra)
        return extra

    yield build
    for extra in made:
        with extra.app_context():
            _db.engine.dispose()
