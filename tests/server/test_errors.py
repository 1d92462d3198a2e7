"""Every error under /api/ is RFC 9457 problem+json, never HTML, never a stack trace."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.exceptions import NotFound

from server.errors import ConflictError, problem_for


def _is_problem(resp, status):
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["title"]
    return body


def test_unknown_api_path_is_a_problem_404(client):
    body = _is_problem(client.get("/api/v1/no-such-thing"), 404)
    assert body["instance"] == "/api/v1/no-such-thing"


def test_wrong_method_is_a_problem_405_with_allow(client):
    resp = client.delete("/api/v1/health")
    _is_problem(resp, 405)
    assert "GET" in resp.headers["Allow"]


def test_malformed_json_is_a_problem_400_or_422(client, factory):
    actor = factory.actor("admin")
    resp = client.post("/api/v1/auth/tokens", data="{not json",
                       headers={**actor.headers, "Content-Type": "application/json"})
    assert resp.status_code in (400, 422)
    assert resp.mimetype == "application/problem+json"


def test_validation_error_names_the_fields(client, factory):
    actor = factory.actor("grid_worker")
    body = _is_problem(client.get("/api/v1/grids/locate?lat=200&lon=x", headers=actor.headers),
                       422)
    assert set(body["errors"]) == {"lat", "lon"}


def test_oversize_body_is_a_problem_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        resp = client.post("/api/v1/auth/tokens", data=b"x" * 5000,
                           headers={"Content-Type": "application/json"})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024
    _is_problem(resp, 413)


@pytest.fixture
def broken_app(app: Flask, make_app) -> Flask:
    from flask import Blueprint

    fresh = make_app()
    bp = Blueprint("boom", __name__)

    @bp.route("/api/v1/_boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/passwd")

    fresh.register_blueprint(bp)
    return fresh


def test_server_error_is_a_problem_500_without_internals(broken_app, caplog):
    resp = broken_app.test_client().get("/api/v1/_boom")
    body = _is_problem(resp, 500)
    text = resp.get_data(as_text=True)
    assert "secret internal detail" not in text and "Traceback" not in text
    assert "logged" in body["detail"]
    assert "secret internal detail" in caplog.text  # the log keeps it for the administrator


def test_pages_outside_api_are_not_problem_json(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    assert resp.mimetype != "application/problem+json"


def test_a_sync_batch_record_and_a_request_get_the_same_problem_document():
    """One builder: only the instance and what the caller asks for differ."""
    error = ConflictError("Taken.", slug="household_code_taken", existing_id=7)
    record, headers = problem_for(error, "/api/v1/households#sync-batch-record-3")
    assert headers == {}
    assert record == {"type": "/problems/household_code_taken", "title": "Conflict",
                      "status": 409, "detail": "Taken.",
                      "instance": "/api/v1/households#sync-batch-record-3", "existing_id": 7}


@pytest.mark.parametrize(("http_slug", "expected"), [(None, "/problems/not_found"),
                                                     ("http_error", "/problems/http_error")])
def test_an_http_error_takes_the_type_its_caller_asks_for(http_slug, expected):
    body, _headers = problem_for(NotFound(), "/x", http_slug=http_slug)
    assert (body["type"], body["status"], body["title"]) == (expected, 404, "Not Found")


def test_a_500_document_says_what_its_caller_asks_and_nothing_of_the_error():
    body, _headers = problem_for(RuntimeError("secret /etc/passwd"), "/x",
                                 server_error_detail="It will be tried again.")
    assert body == {"type": "/problems/server_error", "title": "Internal server error",
                    "status": 500, "detail": "It will be tried again.", "instance": "/x"}
