"""The database drops the app's connections (a restart, a failover, backends terminated):
a problem answer, never a 500 or an HTML page, and the next request works, no restart.

The app under test connects with an ``application_name`` of its own, and only its backends
are terminated: the suite's other connections, and other runs sharing the database, live on.
PostgreSQL only: SQLite has no server whose connections could be cut (CI runs this file on
PostgreSQL too).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import create_engine, text

from server.extensions import db

pytestmark = pytest.mark.postgres_only


class Outage:
    """Cuts every connection of the app named ``tag``, from a connection of its own."""

    def __init__(self, admin_url: str, tag: str) -> None:
        self.engine = create_engine(admin_url)
        self.tag = tag

    def _backends(self, conn: Any) -> int:
        return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = :tag"), {"tag": self.tag}).scalar())

    def cut(self) -> int:
        """Terminate the app's backends and wait until they are gone; how many there were."""
        with self.engine.begin() as conn:
            cut = int(conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :tag"), {"tag": self.tag}).scalar())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                if self._backends(conn) == 0:
                    break
            time.sleep(0.02)
        return cut


@pytest.fixture
def outage_app(make_app, test_database) -> Iterator[tuple[Flask, Outage]]:
    """An app on its own connections, and the means to cut them; a request sent with the
    header ``X-Cut-Connection`` loses its connection after its first statement, one with
    ``X-Cut-Before-Commit`` after its view, as the boundary is about to commit."""
    if test_database.dialect != "postgresql":
        pytest.skip("cutting a database connection needs a database server: PostgreSQL")
    tag = f"gw-outage-{uuid.uuid4().hex[:8]}"
    # Errors are handled as in production: a test app would re-raise what a hook raised.
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"application_name": tag}},
                   PROPAGATE_EXCEPTIONS=False)
    outage = Outage(test_database.admin_url, tag)

    @app.before_request
    def cut_mid_request() -> None:
        if request.headers.get("X-Cut-Connection"):
            db.session.execute(text("SELECT 1"))  # the request holds its connection...
            assert outage.cut() >= 1  # ...and the database drops it

    @app.after_request  # runs before the boundary's commit (registered first, runs last)
    def cut_before_commit(response: Any) -> Any:
        if request.headers.get("X-Cut-Before-Commit"):
            assert outage.cut() >= 1
        return response

    yield app, outage
    outage.engine.dispose()


@pytest.fixture
def worker(factory):
    return factory.actor("grid_worker")


def _household(factory) -> dict[str, Any]:
    return {"client_uuid": str(uuid.uuid4()), "building_id": factory.building("G1").id,
            "unit": "1", "door": f"{uuid.uuid4().int % 900 + 100}", "head_name": "王大爷",
            "members": 1}


def _is_database_unavailable(answer: Any) -> bool:
    return (answer.status_code == 503 and answer.mimetype == "application/problem+json"
            and answer.json["type"] == "/problems/database_unavailable"
            and int(answer.headers["Retry-After"]) > 0)


def test_connections_cut_between_two_requests_are_replaced_unseen(outage_app, worker,
                                                                   factory):
    app, outage = outage_app
    client = app.test_client()
    assert client.get("/api/v1/households", headers=worker.headers).status_code == 200
    assert outage.cut() >= 1
    assert client.get("/api/v1/households", headers=worker.headers).status_code == 200
    assert outage.cut() >= 1
    made = client.post("/api/v1/households", headers=worker.headers, json=_household(factory))
    assert made.status_code == 201, made.text


def test_a_write_whose_connection_is_cut_answers_503_and_the_next_one_works(
        outage_app, worker, factory):
    app, _outage = outage_app
    client = app.test_client()
    body = _household(factory)
    cut = client.post("/api/v1/households", json=body,
                      headers={**worker.headers, "X-Cut-Connection": "1"})
    assert _is_database_unavailable(cut), (cut.status_code, cut.text)
    again = client.post("/api/v1/households", headers=worker.headers, json=body)
    assert again.status_code == 201, again.text  # the same record, sent again


def test_a_read_whose_connection_is_cut_is_read_again_on_a_fresh_one(outage_app, worker):
    app, _outage = outage_app
    client = app.test_client()
    answer = client.get("/api/v1/households",
                        headers={**worker.headers, "X-Cut-Connection": "1"})
    assert answer.status_code == 200, answer.text
    assert client.get("/api/v1/households", headers=worker.headers).status_code == 200



def test_a_commit_whose_connection_is_cut_answers_503_and_the_record_can_be_sent_again(
        outage_app, worker, factory):
    """The connection drops between the view and the request's commit (an ``after_request``
    hook, outside the view): a problem too, not Flask's 500."""
    app, _outage = outage_app
    client = app.test_client()
    body = _household(factory)
    cut = client.post("/api/v1/households", json=body,
                      headers={**worker.headers, "X-Cut-Before-Commit": "1"})
    assert _is_database_unavailable(cut), (cut.status_code, cut.text)
    again = client.post("/api/v1/households", headers=worker.headers, json=body)
    assert again.status_code == 201, again.text
