"""Logging in and out: tokens, expiry, revocation, rate limiting, /me."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from server.models import ApiToken, AuditLog
from server.models.types import utcnow
from tests.factories import PASSWORD


def _login(client, username, password=PASSWORD, **extra):
    return client.post("/api/v1/auth/tokens",
                       json={"username": username, "password": password, **extra})


def test_login_returns_a_bearer_token_and_stores_only_its_hash(client, factory, db):
    worker = factory.actor("grid_worker", username="zhou")
    resp = _login(client, "zhou", device_id="phone-1")
    assert resp.status_code == 201
    token = resp.json["token"]
    assert token.startswith("gw_") and resp.json["token_type"] == "Bearer"
    assert resp.json["expires_at"].endswith("+00:00")
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == worker.id)).all()
    assert all(token not in (r.token_hash, r.device_id) for r in rows)
    assert any(r.device_id == "phone-1" for r in rows)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["username"] == "zhou" and me.json["role"] == "grid_worker"
    assert [g["code"] for g in me.json["grids"]] == ["G1"]


def test_wrong_password_is_401_problem_and_audited(client, factory, db):
    factory.actor("grid_worker", username="zhou")
    resp = _login(client, "zhou", "wrong password")
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"] == "/problems/invalid_credentials"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "login_failed"))


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client, factory):
    factory.actor("grid_worker", username="zhou")
    unknown = _login(client, "nobody", "x")
    wrong = _login(client, "zhou", "x")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json["detail"] == wrong.json["detail"]


def test_revoked_token_no_longer_works(client, factory):
    actor = factory.actor("secretary")
    assert client.delete("/api/v1/auth/tokens/current", headers=actor.headers).status_code == 204
    resp = client.get("/api/v1/me", headers=actor.headers)
    assert resp.status_code == 401
    assert resp.json["type"] == "/problems/invalid_token"


def test_expired_token_is_refused(client, factory, db):
    actor = factory.actor("secretary")
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == actor.id))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    resp = client.get("/api/v1/me", headers=actor.headers)
    assert resp.status_code == 401 and resp.json["type"] == "/problems/token_expired"


def test_disabled_user_cannot_use_an_old_token(client, factory, db):
    actor = factory.actor("grid_worker")
    actor.user.active = False
    db.session.commit()
    assert client.get("/api/v1/me", headers=actor.headers).status_code == 401


def test_missing_or_malformed_authorization_is_401_with_www_authenticate(client):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        resp = client.get("/api/v1/me", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_failed_logins_are_limited_per_username_with_retry_after(client, factory):
    factory.actor("grid_worker", username="zhou")
    codes = [_login(client, "zhou", "bad").status_code for _ in range(5)]
    assert codes == [401] * 5
    blocked = _login(client, "zhou", PASSWORD)  # even the right password waits now
    assert blocked.status_code == 429
    assert blocked.mimetype == "application/problem+json"
    assert int(blocked.headers["Retry-After"]) > 0


def test_failed_logins_are_limited_per_address_across_usernames(client, factory):
    factory.actor("grid_worker", username="zhou")
    for i in range(5):
        assert _login(client, f"guess{i}", "bad").status_code == 401
    assert _login(client, "zhou", PASSWORD).status_code == 429


def test_successful_logins_do_not_count_against_the_limit(client, factory):
    factory.actor("grid_worker", username="zhou")
    codes = [_login(client, "zhou").status_code for _ in range(8)]
    assert codes == [201] * 8


def test_login_body_is_validated(client):
    resp = client.post("/api/v1/auth/tokens", json={"username": ""})
    assert resp.status_code == 422
    assert set(resp.json["errors"]) == {"username", "password"}
