"""Administrators manage accounts over the API: disable and enable, reset a password, revoke
a lost phone's tokens, lift a login lock, list the accounts; every change is audited."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from server.models import AuditLog, LoginFailure
from tests.factories import PASSWORD, Actor, Factory


def login(client: FlaskClient, username: str, password: str = PASSWORD,
          **extra: Any) -> Any:
    return client.post("/api/v1/auth/tokens", json={"username": username, "password": password,
                                                     **extra})


def guess(client: FlaskClient, username: str, times: int = 5) -> None:
    """Wrong passwords from another address (the address limit is not what is tested)."""
    for _ in range(times):
        answer = client.post("/api/v1/auth/tokens", json={"username": username,
                                                          "password": "wrong"},
                             environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert answer.status_code == 401


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def web_login(client: FlaskClient, username: str) -> None:
    """A web session for ``username`` on ``client`` (the form, without its CSRF check)."""
    from flask import current_app

    current_app.config["WTF_CSRF_ENABLED"] = False
    try:
        answer = client.post("/app/login", data={"username": username, "password": PASSWORD})
    finally:
        current_app.config["WTF_CSRF_ENABLED"] = True
    assert answer.status_code == 302


def test_disabling_a_user_ends_their_tokens_and_web_sessions_at_once(client, factory, app, db):
    admin = factory.actor("admin")
    worker = factory.actor("grid_worker", username="zhou")
    phone = login(client, "zhou", device_id="zhou-phone").json["token"]
    browser = app.test_client()
    web_login(browser, "zhou")
    assert browser.get("/api/v1/me").status_code == 200
    answer = client.post(f"/api/v1/users/{worker.id}/disable", headers=admin.headers)
    assert answer.status_code == 200 and answer.json["active"] is False
    for headers in (worker.headers, bearer(phone)):
        assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert browser.get("/api/v1/me").status_code == 401
    assert login(client, "zhou").status_code == 401
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "user_disabled",
                                                    AuditLog.user_id == admin.id))
    enabled = client.post(f"/api/v1/users/{worker.id}/enable", headers=admin.headers)
    assert enabled.status_code == 200 and enabled.json["active"] is True
    assert login(client, "zhou").status_code == 201
    assert client.get("/api/v1/me", headers=bearer(phone)).status_code == 401  # stays revoked


def test_an_admin_cannot_disable_their_own_account(client, factory):
    admin = factory.actor("admin")
    answer = client.post(f"/api/v1/users/{admin.id}/disable", headers=admin.headers)
    assert answer.status_code == 409 and answer.json["type"] == "/problems/own_account"
    assert client.get("/api/v1/me", headers=admin.headers).status_code == 200


def test_a_password_reset_ends_sessions_lifts_the_lock_and_takes_the_new_password(
        client, factory, app, db):
    admin = factory.actor("admin")
    worker = factory.actor("grid_worker", username="zhou")
    browser = app.test_client()
    web_login(browser, "zhou")
    guess(client, "zhou")
    assert login(client, "zhou").status_code == 429
    short = client.post(f"/api/v1/users/{worker.id}/reset-password", headers=admin.headers,
                        json={"password": "short"})
    assert short.status_code == 422 and "password" in short.json["errors"]
    answer = client.post(f"/api/v1/users/{worker.id}/reset-password", headers=admin.headers,
                         json={"password": "a new password 2026"})
    assert answer.status_code == 200 and answer.json["locked_until"] is None
    assert "password" not in answer.json
    assert client.get("/api/v1/me", headers=worker.headers).status_code == 401
    assert browser.get("/app/map").status_code == 302
    assert login(client, "zhou").status_code == 401
    assert login(client, "zhou", "a new password 2026").status_code == 201


def test_revoking_a_lost_phone_leaves_the_other_devices_logged_in(client, factory, db):
    admin = factory.actor("admin")
    worker = factory.actor("grid_worker", username="zhou")
    lost = login(client, "zhou", device_id="lost-phone").json["token"]
    tablet = login(client, "zhou", device_id="tablet").json["token"]
    answer = client.post(f"/api/v1/users/{worker.id}/revoke-tokens", headers=admin.headers,
                         json={"device_id": "lost-phone"})
    assert answer.status_code == 200 and answer.json == {"revoked": 1}
    assert client.get("/api/v1/me", headers=bearer(lost)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(tablet)).status_code == 200
    everything = client.post(f"/api/v1/users/{worker.id}/revoke-tokens",
                             headers=admin.headers, json={})
    assert everything.json == {"revoked": 2}  # the tablet and the factory's token
    assert client.get("/api/v1/me", headers=bearer(tablet)).status_code == 401
    assert client.get("/api/v1/me", headers=worker.headers).status_code == 401


def test_an_admin_unlocks_a_locked_user(client, factory, db):
    admin = factory.actor("admin")
    worker = factory.actor("grid_worker", username="zhou")
    guess(client, "zhou")
    listed = client.get("/api/v1/users", headers=admin.headers, query_string={"role":
                                                                              "grid_worker"})
    assert [u["locked_until"] is not None for u in listed.json["items"]] == [True]
    answer = client.post(f"/api/v1/users/{worker.id}/unlock", headers=admin.headers)
    assert answer.status_code == 200 and answer.json["locked_until"] is None
    assert db.session.scalar(select(LoginFailure)) is None
    assert login(client, "zhou").status_code == 201


def test_the_user_list_pages_and_filters(client, factory: Factory):
    admin = factory.actor("admin", username="admin")
    workers: list[Actor] = [factory.actor("grid_worker", username=f"w{i}") for i in range(3)]
    factory.actor("secretary", username="shuji")
    first = client.get("/api/v1/users", headers=admin.headers,
                       query_string={"role": "grid_worker", "limit": 2})
    assert [u["username"] for u in first.json["items"]] == ["w0", "w1"]
    assert first.json["items"][0]["grids"] == ["G1"] and first.json["items"][0]["active"]
    rest = client.get("/api/v1/users", headers=admin.headers, query_string={
        "role": "grid_worker", "limit": 2, "cursor": first.json["next_cursor"]})
    assert [u["username"] for u in rest.json["items"]] == ["w2"]
    assert rest.json["next_cursor"] is None
    client.post(f"/api/v1/users/{workers[0].id}/disable", headers=admin.headers)
    disabled = client.get("/api/v1/users", headers=admin.headers, query_string={"active": 0})
    assert [u["username"] for u in disabled.json["items"]] == ["w0"]
    secretaries = client.get("/api/v1/users", headers=admin.headers,
                             query_string={"community": "C1", "role": "secretary"})
    assert [u["username"] for u in secretaries.json["items"]] == ["shuji"]
    unknown = client.get("/api/v1/users", headers=admin.headers, query_string={"role": "king"})
    assert unknown.status_code == 422


def test_an_unknown_user_id_is_404(client, factory):
    admin = factory.actor("admin")
    for action in ("disable", "enable", "unlock"):
        answer = client.post(f"/api/v1/users/999999/{action}", headers=admin.headers)
        assert answer.status_code == 404, action
