"""A web login is a session held on the server: logging out, disabling the user or resetting
their password ends it for every copy of the cookie, not only in the browser that asked."""

from __future__ import annotations

import re

from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select

from server.models import WebSession
from tests.factories import PASSWORD, Factory

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _form_token(client: FlaskClient, path: str = "/app/login") -> str:
    g.pop("csrf_token", None)  # the test's app context outlives a request; a server's does not
    match = _TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


def _log_in_with_the_form(client: FlaskClient, username: str) -> str:
    """Log in through the login form; the CSRF token of the map page that follows."""
    response = client.post("/app/login", data={"username": username, "password": PASSWORD,
                                               "csrf_token": _form_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return _form_token(client, "/app/map")


def _copy_of_the_cookie(app: Flask, client: FlaskClient) -> FlaskClient:
    cookie = client.get_cookie("session")
    assert cookie is not None
    copy = app.test_client()
    copy.set_cookie("session", cookie.value)
    g.pop("user", None)
    return copy


def _opens(client: FlaskClient) -> tuple[int, int]:
    g.pop("user", None)
    return client.get("/app/map").status_code, client.get("/api/v1/me").status_code


def test_a_copied_cookie_stops_opening_the_map_and_the_api_after_logout(
        app: Flask, client: FlaskClient, factory: Factory, db) -> None:
    factory.actor("secretary", username="shuji")
    token = _log_in_with_the_form(client, "shuji")
    copy = _copy_of_the_cookie(app, client)
    assert _opens(copy) == (200, 200)
    assert client.post("/app/logout", data={"csrf_token": token}).status_code == 302
    assert _opens(copy) == (302, 401)
    assert _opens(client) == (302, 401)
    row = db.session.scalar(select(WebSession))
    assert row is not None and row.revoked_at is not None


def test_the_session_is_stored_only_as_a_hash_with_its_expiry(
        app: Flask, client: FlaskClient, factory: Factory, db) -> None:
    secretary = factory.actor("secretary", username="shuji")
    _log_in_with_the_form(client, "shuji")
    row = db.session.scalar(select(WebSession).where(WebSession.user_id == secretary.id))
    cookie = client.get_cookie("session")
    assert row is not None and cookie is not None and row.id_hash not in cookie.value
    hours = (row.expires_at - row.created_at).total_seconds() / 3600
    assert hours == app.config["WEB_SESSION_HOURS"] and row.revoked_at is None


def test_an_expired_session_no_longer_opens_the_pages(
        app: Flask, client: FlaskClient, factory: Factory, db) -> None:
    factory.actor("secretary", username="shuji")
    _log_in_with_the_form(client, "shuji")
    row = db.session.scalar(select(WebSession))
    row.expires_at = row.created_at
    db.session.commit()
    assert _opens(client) == (302, 401)
