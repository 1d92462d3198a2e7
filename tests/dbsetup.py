"""Which database the suite runs on, and how it is made fresh.

``GRIDWORK_TEST_DATABASE_URL`` names a PostgreSQL database (the city tier); the suite then
runs in a new schema of its own, dropped at the end, so parallel runs never meet. Without
it the suite runs on a throwaway SQLite file (the embedded tier).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text

__all__ = ["TestDatabase", "make_test_database"]


class TestDatabase:
    """A database URL for the suite, with setup and teardown."""

    __test__ = False  # not a test class

    def __init__(self, url: str, schema: str | None, admin_url: str | None) -> None:
        self.url, self.schema, self.admin_url = url, schema, admin_url

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    def create(self) -> None:
        """Make the schema (PostgreSQL only; SQLite files appear on first connect)."""
        if self.schema and self.admin_url:
            engine = create_engine(self.admin_url)
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            engine.dispose()

    def drop(self) -> None:
        """Drop the schema (PostgreSQL only)."""
        if self.schema and self.admin_url:
            engine = create_engine(self.admin_url)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            engine.dispose()


def make_test_database(tmp_dir: Path) -> TestDatabase:
    """The database chosen by the environment: PostgreSQL if named, else a SQLite file."""
    url = os.environ.get("GRIDWORK_TEST_DATABASE_URL", "").strip()
    if not url:
        return TestDatabase(f"sqlite:///{tmp_dir / 'test.db'}", None, None)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    schema = f"gw_test_{os.getpid()}_{secrets.token_hex(3)}"
    joiner = "&" if "?" in url else "?"
    scoped = f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"
    return TestDatabase(scoped, schema, url)
