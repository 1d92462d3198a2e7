"""A full run of a real server, logging at DEBUG with SQL echo, never logs a secret.

The run logs in (and fails once, with a wrong password), registers a household with phone
and ID number, reads it, looks it up by phone, visits it, uploads a photo, reports, exports
the households and logs out. Then every log line (gunicorn's access log, the app's log and
SQLAlchemy's statements with their parameters) is searched for the password, the token, the
phone number and the ID number. SQL parameters are never logged (``hide_parameters``): not
by the echo, and not in the error of a statement that fails.
"""

from __future__ import annotations

import io
import logging
import uuid

import pytest
import requests

from client_sync.testing import LiveServer
from server.models.types import utcnow
from tests.factories import PASSWORD
from tests.server.storage.imagegen import make_jpeg
from tests.server.visit_support import id_number

PHONE = "13987654321"
ID_NUMBER = id_number(4242)  # a valid check digit


@pytest.fixture
def logged_server(app_config, factory, tmp_path):
    factory.world()
    factory.actor("grid_worker", grids=("G1",), username="zhou")
    factory.actor("secretary", username="shuji")
    log = tmp_path / "server.log"
    server = LiveServer(app_config["DATABASE_URL"], app_config["MEDIA_DIR"], workers=1,
                        instance_dir=app_config["INSTANCE_DIR"], log_path=log,
                        env={"GRIDWORK_SECRET_KEY": app_config["SECRET_KEY"],
                             "GRIDWORK_LOG_LEVEL": "DEBUG", "GRIDWORK_SQLALCHEMY_ECHO": "true"},
                        args=("--access-logfile", "-", "--log-level", "debug"))
    server.start()
    try:
        yield f"{server.url}/api/v1", log
    finally:
        server.stop()


def _login(base: str, username: str) -> str:
    resp = requests.post(f"{base}/auth/tokens", json={"username": username,
                                                      "password": PASSWORD}, timeout=10)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


def test_a_full_run_logs_no_password_token_phone_or_id_number(logged_server, factory):
    base, log = logged_server
    wrong = requests.post(f"{base}/auth/tokens", json={"username": "zhou",
                                                       "password": "wrong-" + PASSWORD},
                          timeout=10)
    assert wrong.status_code == 401
    token = _login(base, "zhou")
    auth = {"Authorization": f"Bearer {token}"}
    building = factory.building("G1")
    made = requests.post(f"{base}/households", headers=auth, timeout=10, json={
        "client_uuid": str(uuid.uuid4()), "building_id": building.id, "unit": "1",
        "door": "301", "head_name": "王大爷", "phone": PHONE, "id_number": ID_NUMBER,
        "members": 1, "tags": ["elderly_alone"]})
    assert made.status_code == 201, made.text
    household_id = made.json()["id"]
    assert requests.get(f"{base}/households/{household_id}", headers=auth,
                        timeout=10).json()["phone"] == PHONE
    found = requests.post(f"{base}/households/lookup", json={"phone": PHONE}, headers=auth,
                          timeout=10)
    assert [h["id"] for h in found.json()["items"]] == [household_id]
    photo = requests.post(f"{base}/photos", headers=auth, timeout=30, files={
        "file": ("door.jpg", io.BytesIO(make_jpeg(320, 240, gps=(28.802, 113.074))),
                 "image/jpeg")}, data={"client_uuid": str(uuid.uuid4())})
    assert photo.status_code == 201, photo.text
    visit = requests.post(f"{base}/visits", headers=auth, timeout=10, json={
        "client_uuid": str(uuid.uuid4()), "household_id": household_id,
        "visited_at": utcnow().isoformat(), "outcome": "met", "notes": "身体好",
        "location": {"lat": building.lat, "lon": building.lon, "accuracy_m": 8},
        "photo_ids": [photo.json()["id"]]})
    assert visit.status_code == 201, visit.text
    report = requests.post(f"{base}/reports", headers=auth, timeout=10, json={
        "client_uuid": str(uuid.uuid4()), "category": "garbage", "description": "楼道堆物",
        "location": {"lat": building.lat, "lon": building.lon},
        "captured_at": utcnow().isoformat(), "photo_ids": [photo.json()["id"]]})
    assert report.status_code == 201, report.text
    secretary = {"Authorization": f"Bearer {_login(base, 'shuji')}"}
    export = requests.get(f"{base}/households/export?format=csv", headers=secretary,
                          timeout=10)
    assert PHONE in export.text  # the secretary's export is complete...
    assert requests.delete(f"{base}/auth/tokens/current", headers=auth,
                           timeout=10).status_code == 204

    text = log.read_text(encoding="utf-8", errors="replace")
    assert "SQL parameters hidden" in text  # the statements were logged, their values not
    assert "POST /api/v1/households" in text  # the access log was written
    assert "SELECT" in text or "INSERT" in text  # and so were the SQL statements
    for secret in (PASSWORD, token, PHONE, ID_NUMBER, PHONE[-8:]):
        hits = [line for line in text.splitlines() if secret in line]
        assert not hits, f"{secret!r} appears in the log: {hits[:2]}"


def test_a_failing_statement_is_logged_without_its_parameters(app, make_app, caplog):
    """A statement that fails on the database is logged with the 500, its values are not:
    they hold names, notes and phone numbers in free text."""
    from sqlalchemy import text

    from server.extensions import db

    extra = make_app()  # on the tables the app fixture made

    def fails() -> str:
        db.session.execute(text("INSERT INTO community (code, name) VALUES (:code, NULL)"),
                           {"code": f"王大爷{PHONE}"})  # no name: NOT NULL fails
        return "unreachable"

    extra.add_url_rule("/api/v1/test-failing-statement", view_func=fails)
    with caplog.at_level(logging.DEBUG):
        answer = extra.test_client().get("/api/v1/test-failing-statement")
    assert answer.status_code == 500
    assert "INSERT INTO community" in caplog.text  # the statement is in the log...
    assert PHONE not in caplog.text and "王大爷" not in caplog.text  # ...its values are not
