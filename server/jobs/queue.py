"""procrastinate, the job queue of the city tier: its schema, deferring on our connection.

procrastinate's tables and functions live in a PostgreSQL schema of their own,
``procrastinate`` (``GRIDWORK_JOBS_SCHEMA``; the migration 0006 makes it:
:func:`apply_schema`), beside the app's
tables, which the models and migrations describe alone. Its connections (the worker's)
put that schema first on their ``search_path``; a web request defers a job on the
SQLAlchemy connection of its own transaction (:func:`defer_on`), adding the schema to the
path for that transaction only (``set_config(..., true)``).
"""

from __future__ import annotations

import functools
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.engine import Connection, make_url

__all__ = ["SCHEMA", "apply_schema", "conninfo", "defer_on", "drop_schema", "web_app"]

SCHEMA = "procrastinate"
_ON_PATH = ("SELECT set_config('search_path', %s || ', ' || current_setting('search_path'), "
            "true) WHERE NOT (%s = ANY (current_schemas(false)))")


def conninfo(database_url: str, schema: str = SCHEMA) -> str:
    """A libpq connection string for procrastinate from the app's SQLAlchemy URL, with
    procrastinate's schema alone on the search path."""
    from psycopg.conninfo import make_conninfo

    url = make_url(database_url).set(drivername="postgresql")
    return make_conninfo(url.render_as_string(hide_password=False),
                         options=f"-c search_path={schema}")


@functools.cache
def web_app() -> procrastinate.App:
    """A procrastinate app that only defers, always on a connection it is given."""
    # Never opened: with a connection passed, the sync connector uses it and no pool.
    return procrastinate.App(connector=procrastinate.SyncPsycopgConnector())


def defer_on(connection: Connection, task: str, *, lock: str | None = None,
             schema: str = SCHEMA, **kwargs: Any) -> None:
    """Insert the job ``task(**kwargs)`` in ``connection``'s transaction.

    ``lock`` is procrastinate's queueing lock: while a job with it waits, no second one is
    added (the insert runs in a savepoint, so the refusal leaves the transaction usable).
    """
    driver = connection.connection.driver_connection
    connection.exec_driver_sql(_ON_PATH, (schema, schema))
    deferrer = web_app().configure_task(task, connection=driver, queueing_lock=lock)
    if lock is None:
        deferrer.defer(**kwargs)
        return
    savepoint = connection.begin_nested()
    try:
        deferrer.defer(**kwargs)
    except AlreadyEnqueued:
        savepoint.rollback()
        return
    savepoint.commit()


def apply_schema(connection: Connection, schema: str = SCHEMA) -> None:
    """Create procrastinate's schema with the installed procrastinate's tables.

    The search path is set for the session (not the transaction, so an autocommit
    connection works too) and put back as it was afterwards.
    """
    from procrastinate.schema import SchemaManager

    sql = SchemaManager.get_schema()
    saved = connection.exec_driver_sql("SELECT current_setting('search_path')").scalar_one()
    connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    connection.exec_driver_sql("SELECT set_config('search_path', %s, false)", (f'"{schema}"',))
    try:
        driver = connection.connection.driver_connection
        assert driver is not None  # a live connection
        with driver.cursor() as cursor:
            cursor.execute(sql)  # several statements: psycopg sends them as one simple query
    finally:
        connection.exec_driver_sql("SELECT set_config('search_path', %s, false)", (saved,))


def drop_schema(connection: Connection, schema: str = SCHEMA) -> None:
    """Remove procrastinate's schema and every job in it (the migration's downgrade)."""
    connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
