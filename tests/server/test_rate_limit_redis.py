"""In the city tier several servers count failed logins together, in Redis; with Redis down
a login is a 503 problem (not a 500) and /health names Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from client_sync.testing import free_port
from tests.factories import PASSWORD

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_available():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379 (CI and the dev machine have it)")


@pytest.fixture
def own_limiter_store(app, monkeypatch):
    """The limiter is one object bound to the last app made: give the suite's store back
    (before the ``app`` fixture empties it)."""
    from server.extensions import limiter

    monkeypatch.setattr(limiter, "_storage", limiter._storage)
    monkeypatch.setattr(limiter, "_limiter", limiter._limiter)


@pytest.fixture
def redis_down(make_app, own_limiter_store):
    """An app whose Redis (the rate-limit store) does not answer."""
    return make_app(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
                    WTF_CSRF_ENABLED=False)


def test_two_servers_share_the_login_limit_through_redis(make_app, factory, redis_available,
                                                         own_limiter_store):
    factory.actor("grid_worker", username="zhou")
    config = {"RATELIMIT_STORAGE_URI": REDIS_URL,
              "RATELIMIT_KEY_PREFIX": f"gw-test-{uuid.uuid4().hex}"}
    first, second = make_app(**config), make_app(**config)
    bad = {"username": "zhou", "password": "wrong"}
    for i in range(5):
        server = (first, second)[i % 2]
        assert server.test_client().post("/api/v1/auth/tokens", json=bad).status_code == 401
    blocked = second.test_client().post("/api/v1/auth/tokens",
                                        json={"username": "zhou", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.mimetype == "application/problem+json"


def test_with_redis_down_a_login_is_a_503_problem_not_a_500(redis_down, factory):
    factory.actor("grid_worker", username="zhou")
    answer = redis_down.test_client().post("/api/v1/auth/tokens", json={
        "username": "zhou", "password": PASSWORD})
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.json["type"] == "/problems/rate_limit_unavailable"
    assert "Redis" in answer.json["detail"] and int(answer.headers["Retry-After"]) > 0
    page = redis_down.test_client().post("/app/login", data={"username": "zhou",
                                                              "password": PASSWORD})
    assert page.status_code == 503 and page.mimetype == "text/html"


def test_with_redis_down_health_is_503_and_names_redis(redis_down):
    answer = redis_down.test_client().get("/api/v1/health")
    assert answer.status_code == 503
    assert (answer.json["status"], answer.json["database"], answer.json["redis"]) == (
        "degraded", "ok", "unreachable")


def test_health_says_redis_is_ok_when_it_answers(make_app, redis_available, own_limiter_store):
    answer = make_app(RATELIMIT_STORAGE_URI=REDIS_URL).test_client().get("/api/v1/health")
    assert answer.status_code == 200 and answer.json["redis"] == "ok"


def test_health_names_no_redis_in_the_embedded_tier(client):
    answer = client.get("/api/v1/health")
    assert answer.status_code == 200 and "redis" not in answer.json
