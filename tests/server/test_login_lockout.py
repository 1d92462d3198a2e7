"""Failed logins are counted per username in the database: one count for every way of
logging in, shared by every worker; a lock a known device or an administrator can lift."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from server.models import LoginFailure
from server.models.types import utcnow
from tests.factories import PASSWORD

BAD = "not the password"


@pytest.fixture
def lenient(make_app: Any) -> Flask:
    """An app whose per-address limit never triggers, so only the per-username count acts."""
    return make_app(LOGIN_RATE_LIMIT="1000 per minute", WTF_CSRF_ENABLED=False)


def api_login(app: Flask, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return app.test_client().post("/api/v1/auth/tokens", json={
        "username": username, "password": password, **extra})


def web_login(app: Flask, username: str, password: str = PASSWORD) -> Any:
    return app.test_client().post("/app/login", data={"username": username,
                                                      "password": password})


def test_api_and_web_logins_share_one_count(lenient, factory):
    factory.actor("secretary", username="shuji")
    assert [api_login(lenient, "shuji", BAD).status_code for _ in range(3)] == [401] * 3
    assert [web_login(lenient, "shuji", BAD).status_code for _ in range(2)] == [401] * 2
    locked = api_login(lenient, "shuji")
    assert locked.status_code == 429, locked.get_data(as_text=True)
    assert locked.mimetype == "application/problem+json"
    assert locked.json["type"] == "/problems/rate_limited"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    page = web_login(lenient, "shuji")
    assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0


def test_a_lock_answers_the_same_for_a_username_that_does_not_exist(lenient, factory):
    factory.actor("secretary", username="shuji")
    for name in ("shuji", "nobody"):
        codes = [api_login(lenient, name, BAD).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429], name


def test_a_success_before_the_limit_starts_the_count_again(lenient, factory, db):
    factory.actor("secretary", username="shuji")
    for _ in range(4):
        assert api_login(lenient, "shuji", BAD).status_code == 401
    assert api_login(lenient, "shuji").status_code == 201
    assert db.session.get(LoginFailure, "shuji") is None
    assert [api_login(lenient, "shuji", BAD).status_code for _ in range(4)] == [401] * 4


def test_the_lock_ends_by_itself_after_its_time(lenient, factory, db):
    factory.actor("secretary", username="shuji")
    for _ in range(5):
        api_login(lenient, "shuji", BAD)
    assert api_login(lenient, "shuji").status_code == 429
    row = db.session.get(LoginFailure, "shuji")
    row.locked_until = utcnow() - timedelta(seconds=1)
    row.window_started_at = utcnow() - timedelta(minutes=20)
    db.session.commit()
    assert api_login(lenient, "shuji", BAD).status_code == 401  # a new window, not a new lock
    assert api_login(lenient, "shuji").status_code == 201


def test_the_right_password_from_a_known_device_lifts_the_lock(lenient, factory, db):
    factory.actor("grid_worker", username="zhou")
    assert api_login(lenient, "zhou", device_id="zhou-phone").status_code == 201
    for _ in range(5):  # someone else, elsewhere, guessing
        api_login(lenient, "zhou", BAD)
    assert api_login(lenient, "zhou").status_code == 429
    assert api_login(lenient, "zhou", device_id="stranger-phone").status_code == 429
    assert api_login(lenient, "zhou", BAD, device_id="zhou-phone").status_code == 429
    assert api_login(lenient, "zhou", device_id="zhou-phone").status_code == 201
    db.session.expire_all()
    assert db.session.get(LoginFailure, "zhou") is None
    assert api_login(lenient, "zhou").status_code == 201  # lifted for every path


def test_a_known_device_gets_no_more_than_the_limit_again(lenient, factory):
    """A device id is no secret: past twice the limit even a known device waits."""
    factory.actor("grid_worker", username="zhou")
    api_login(lenient, "zhou", device_id="zhou-phone")
    for _ in range(10):
        api_login(lenient, "zhou", BAD, device_id="zhou-phone")
    assert api_login(lenient, "zhou", device_id="zhou-phone").status_code == 429


def test_failures_are_counted_in_one_row_per_username(lenient, factory, db):
    factory.actor("secretary", username="shuji")
    for _ in range(3):
        api_login(lenient, "shuji", BAD)
    rows = db.session.scalars(select(LoginFailure)).all()
    assert [(r.username, r.failures, r.locked_until) for r in rows] == [("shuji", 3, None)]


def test_counts_whose_window_and_lock_are_over_are_dropped(lenient, factory, db):
    """Names that do not exist leave rows; they go once nothing in them counts any more."""
    for name in ("ghost", "locked-ghost"):
        for _ in range(5):
            api_login(lenient, name, BAD)
        db.session.get(LoginFailure, name).window_started_at = utcnow() - timedelta(hours=1)
    db.session.get(LoginFailure, "ghost").locked_until = utcnow() - timedelta(minutes=1)
    db.session.commit()  # locked-ghost's lock still runs
    api_login(lenient, "someone", BAD)
    db.session.expire_all()
    names = sorted(db.session.scalars(select(LoginFailure.username)))
    assert names == ["locked-ghost", "someone"]


# --- across processes: two gunicorn workers count together ----------------------------------

def test_wrong_passwords_spread_over_two_server_processes_lock_at_the_limit(
        app_config, factory, tmp_path):
    """Five failures spread over two gunicorn processes sharing the database (as two workers
    or two hosts do) lock the name: the sixth login, right password or not, is a 429."""
    from client_sync.testing import LiveServer

    factory.actor("grid_worker", username="zhou")
    bad = {"username": "zhou", "password": BAD}
    env = {"GRIDWORK_PASSWORD_HASH_CHEAP": "true"}
    with LiveServer(app_config["DATABASE_URL"], tmp_path / "a" / "media", workers=1,
                    env=env) as one, \
            LiveServer(app_config["DATABASE_URL"], tmp_path / "b" / "media", workers=1,
                       env=env) as other:
        servers = [one, other, one, other, one]
        codes = [requests.post(f"{s.url}/api/v1/auth/tokens", json=bad, timeout=30).status_code
                 for s in servers]
        locked = requests.post(f"{other.url}/api/v1/auth/tokens",
                               json={"username": "zhou", "password": PASSWORD}, timeout=30)
    assert codes == [401] * 5
    assert locked.status_code == 429, locked.text
    assert locked.headers["Content-Type"] == "application/problem+json"
    assert int(locked.headers["Retry-After"]) > 0
