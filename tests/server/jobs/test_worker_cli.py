"""``gridwork worker`` is the city tier's: without GRIDWORK_JOBS=queue it says what to set."""

from __future__ import annotations

import pytest


def test_worker_without_the_queue_says_to_set_it(app):
    result = app.test_cli_runner().invoke(args=["worker"])
    assert result.exit_code != 0
    assert "GRIDWORK_JOBS=queue" in result.output


def test_the_queue_is_refused_on_sqlite(make_app, test_database):
    if test_database.dialect != "sqlite":
        pytest.skip("SQLite only")
    from server.jobs import init_app

    app = make_app(JOBS="queue")
    with pytest.raises(RuntimeError, match="needs PostgreSQL"):
        init_app(app)
