"""A request line or headers too long get our own 414 / 431 problem, not gunicorn's HTML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from server.request_limits import (
    GUNICORN_LIMITS,
    MAX_HEADER_FIELD,
    MAX_HEADER_FIELDS,
    MAX_REQUEST_LINE,
)

PROBLEM = "application/problem+json"
HEALTH = "/api/v1/health"


def query_of_line(length: int) -> str:
    """A path to /health whose request line ("GET ... HTTP/1.1") is ``length`` bytes."""
    bare = len(f"GET {HEALTH}?q= HTTP/1.1")
    return f"{HEALTH}?q={'x' * (length - bare)}"


def test_a_request_line_at_the_limit_is_served(client):
    assert client.get(query_of_line(MAX_REQUEST_LINE)).status_code == 200


def test_a_request_line_over_the_limit_is_a_problem_414(client):
    resp = client.get(query_of_line(MAX_REQUEST_LINE + 1))
    assert (resp.status_code, resp.mimetype) == (414, PROBLEM)
    assert resp.json["type"] == "/problems/uri_too_long"


def test_a_header_over_the_limit_is_a_problem_431(client):
    at_limit = {"X-Note": "x" * (MAX_HEADER_FIELD - len("X-Note: "))}
    assert client.get(HEALTH, headers=at_limit).status_code == 200
    resp = client.get(HEALTH, headers={"X-Note": at_limit["X-Note"] + "x"})
    assert (resp.status_code, resp.mimetype) == (431, PROBLEM)
    assert resp.json["type"] == "/problems/header_fields_too_large"
    assert "X-Note" in resp.json["detail"]


def test_too_many_headers_are_a_problem_431(client):
    resp = client.get(HEALTH, headers={f"X-N{i}": "1" for i in range(MAX_HEADER_FIELDS + 1)})
    assert (resp.status_code, resp.mimetype) == (431, PROBLEM)


def test_a_long_token_is_refused_before_authentication(client):
    resp = client.get("/api/v1/reports",
                      headers={"Authorization": "Bearer " + "t" * MAX_HEADER_FIELD})
    assert resp.status_code == 431


def test_serve_gives_gunicorn_limits_above_the_apps(app, monkeypatch):
    started: list[list[str]] = []

    def execv(_path: str, args: list[str]) -> None:
        started.append(list(args))

    monkeypatch.setattr(os, "execv", execv)
    result = app.test_cli_runner().invoke(args=["serve", "--port", "5999"])
    assert result.exit_code == 0, result.output
    args = started[0]
    limit = {name: int(args[args.index(name) + 1]) for name in GUNICORN_LIMITS[::2]}
    assert limit["--limit-request-line"] > MAX_REQUEST_LINE
    assert limit["--limit-request-field_size"] > MAX_HEADER_FIELD
    assert limit["--limit-request-fields"] > MAX_HEADER_FIELDS


@pytest.fixture
def live(db, app_config: dict[str, Any], tmp_path: Path) -> Any:
    """gunicorn with the limits ``gridwork serve`` gives it."""
    from client_sync.testing import LiveServer

    with LiveServer(app_config["DATABASE_URL"], tmp_path / "media", workers=1, threads=2,
                    args=GUNICORN_LIMITS) as server:
        yield server


def test_over_http_a_long_url_or_header_is_the_apps_problem_not_gunicorns_page(live):
    long_url = requests.get(live.url + query_of_line(6000), timeout=10)
    assert (long_url.status_code, long_url.headers["Content-Type"]) == (414, PROBLEM)
    big_header = requests.get(live.url + HEALTH, headers={"X-Note": "x" * 12000}, timeout=10)
    assert (big_header.status_code, big_header.headers["Content-Type"]) == (431, PROBLEM)
