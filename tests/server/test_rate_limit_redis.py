"""In the city tier several servers count failed logins together, in Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.factories import PASSWORD

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_available():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379 (CI and the dev machine have it)")


def test_two_servers_share_the_login_limit_through_redis(make_app, factory, redis_available):
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
