"""Logging in to the pages: a session cookie (HttpOnly, SameSite), CSRF on every form and
on API writes that ride on the cookie, and the same roles as the API."""

from __future__ import annotations

import re
from typing import Any

from flask import g
from flask.testing import FlaskClient

from tests.factories import PASSWORD, Factory
from tests.web.conftest import PageWatch, login, screenshot, wait_map_ready

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _form_token(client: FlaskClient, path: str = "/app/login") -> str:
    # The test's app context (and so flask.g, where Flask-WTF caches the token) outlives
    # each request here, unlike on a server: forget the cached token of the last session.
    g.pop("csrf_token", None)
    match = _TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


def _login(client: FlaskClient, username: str) -> str:
    response = client.post("/app/login", data={"username": username, "password": PASSWORD,
                                               "csrf_token": _form_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return _form_token(client, "/app/map")


def test_secretary_logs_in_with_the_form_and_lands_on_the_map_in_chinese(page: Any,
                                                                         world: Any) -> None:
    page.goto("/app/")
    assert "/app/login" in page.url
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("#login-form button") == "登录"
    login(page, "shuji", world.password)
    wait_map_ready(page)
    assert "李书记 · 社区书记" in page.inner_text(".who")


def test_session_cookie_is_http_only_and_same_site(page: Any, world: Any) -> None:
    login(page, "shuji", world.password)
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["session"]["httpOnly"] is True
    assert cookies["session"]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it


def test_wrong_password_shows_an_error_and_opens_no_session(page: Any, world: Any,
                                                            watch: PageWatch) -> None:
    watch.allow(401, "/app/login")
    page.goto("/app/login")
    page.fill("#username", "shuji")
    page.fill("#password", "not the password")
    page.click("#login-form button[type=submit]")
    assert page.inner_text("#login-error") == "用户名或密码错误。"
    page.goto("/app/map")
    assert "/app/login" in page.url


def test_log_out_ends_the_session(page: Any, world: Any) -> None:
    login(page, "shuji", world.password)
    wait_map_ready(page)
    page.click("#logout")
    page.wait_for_url("**/app/login")
    page.goto("/app/dashboard")
    assert "/app/login" in page.url


def test_login_form_without_csrf_token_is_refused(client: FlaskClient, factory: Factory) -> None:
    factory.actor("secretary", username="shuji")
    response = client.post("/app/login", data={"username": "shuji", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/app/map").status_code == 302  # still not logged in


def test_next_never_leads_off_the_site(client: FlaskClient, factory: Factory) -> None:
    factory.actor("secretary", username="shuji")
    for target in ("https://evil.example/app/", "//evil.example/app/", "/api/v1/me"):
        response = client.post("/app/login", data={
            "username": "shuji", "password": PASSWORD, "next": target,
            "csrf_token": _form_token(client)})
        assert response.headers["Location"] == "/app/map", target


def test_api_write_on_the_session_cookie_needs_the_csrf_header(client: FlaskClient,
                                                               factory: Factory) -> None:
    worker = factory.actor("grid_worker", grids=("G1",), username="wangge1")
    token = _login(client, "wangge1")
    body = {"door": "301", "head_name": "王五", "location": {"lat": 28.802, "lon": 113.074}}
    refused = client.post("/api/v1/households", json=body)
    assert refused.status_code == 400
    assert refused.mimetype == "application/problem+json"
    assert "CSRF" in refused.get_json()["detail"]
    accepted = client.post("/api/v1/households", json=body, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201
    # A bearer-token client (the phone) needs no CSRF token, cookie or not.
    body["door"] = "302"
    assert client.post("/api/v1/households", json=body, headers=worker.headers).status_code == 201


def test_reads_on_the_session_cookie_follow_the_api_roles(client: FlaskClient,
                                                          factory: Factory) -> None:
    factory.actor("department", username="shuiwu")
    _login(client, "shuiwu")
    assert client.get("/api/v1/me").get_json()["username"] == "shuiwu"
    assert client.get("/api/v1/map/households?bbox=28,113,29,114&zoom=15").status_code == 403
    assert client.get("/app/dashboard").status_code == 403


def test_phone_screen_shows_the_login_and_the_map(phone_page: Any, world: Any) -> None:
    login(phone_page, "wangge1", world.password)
    wait_map_ready(phone_page)
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page must not scroll sideways on a phone"
    assert phone_page.is_visible("#map")
    screenshot(phone_page, "map-phone")
