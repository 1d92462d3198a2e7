"""``gridwork worker`` is the city tier's: without GRIDWORK_JOBS=queue it says what to set."""

from __future__ import annotations

import pytest


def test_worker_without_the_queue_says_to_set_it(app):
    result = app.test_cli_runner().invoke(args=["worker"])
    assert result.exit_code != 0
    assert "GRIDWORK_JOBS=queue" in result.output


def test_the_queue_is_refused_on_sqlite_when_the_app_starts(make_app, test_database):
    """Not at the first photo (a 500 then): the server does not start."""
    if test_database.dialect != "sqlite":
        pytest.skip("SQLite only")
    with pytest.raises(RuntimeError, match="needs PostgreSQL"):
        make_app(JOBS="queue")


def test_an_unknown_job_setting_is_refused_when_the_app_starts(make_app):
    with pytest.raises(RuntimeError, match="GRIDWORK_JOBS must be 'inline' or 'queue'"):
        make_app(JOBS="celery")
