"""The job queue of the city tier: procrastinate's tables, functions and types in a
PostgreSQL schema of their own (``procrastinate``, or GRIDWORK_JOBS_SCHEMA), beside the
app's tables. SQLite (the embedded tier runs its jobs in process) gets nothing.

The SQL is the installed procrastinate's own schema (setup.cfg pins the major version);
a later procrastinate that changes it ships migration SQL files, applied by a later
revision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 19:10:00

"""
import os

from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _schema():
    """GRIDWORK_JOBS_SCHEMA as the app reads it (Flask-Migrate runs in its context)."""
    from flask import current_app, has_app_context

    if has_app_context():
        from server.jobs import settings

        return str(settings(current_app.config)["JOBS_SCHEMA"])
    return os.environ.get("GRIDWORK_JOBS_SCHEMA", "procrastinate")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from server.jobs.queue import apply_schema

    exists = bind.exec_driver_sql(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name = 'procrastinate_jobs'", (_schema(),)).first()
    if exists is None:
        apply_schema(bind, _schema())


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from server.jobs.queue import drop_schema

    drop_schema(bind, _schema())
