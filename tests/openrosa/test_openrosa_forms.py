"""The form list, the forms, their manifests and media, and who may log in how (in process)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io

import pytest
from defusedxml.ElementTree import fromstring

from server.extensions import db
from server.openrosa.auth import issue_collect_password
from server.openrosa.forms import REPORT_FORM, VISIT_FORM, xform
from server.services.categories import add_category
from tests.factories import PASSWORD
from tests.server.visit_support import add_household

NS = {"x": "http://openrosa.org/xforms/xformsList",
      "m": "http://openrosa.org/xforms/xformsManifest"}


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-OpenRosa-Version": "1.0"}


def _forms(client, headers) -> dict[str, dict[str, str]]:
    response = client.get("/openrosa/formList", headers=headers)
    assert response.status_code == 200
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.mimetype == "text/xml"
    root = fromstring(response.data)
    return {f.findtext("x:formID", namespaces=NS): {
        c.tag.rpartition("}")[2]: c.text for c in f} for f in root.findall("x:xform", NS)}


def test_worker_sees_both_forms_and_a_department_none(client, factory):
    worker = factory.actor("grid_worker")
    department = factory.actor("department")
    assert set(_forms(client, basic(worker.user.username, PASSWORD))) == {
        "gridwork_visit", "gridwork_report"}
    assert _forms(client, basic(department.user.username, PASSWORD)) == {}


def test_form_hash_is_the_md5_of_the_form_served(client, factory):
    worker = factory.actor("grid_worker")
    headers = basic(worker.user.username, PASSWORD)
    item = _forms(client, headers)["gridwork_visit"]
    document = client.get("/" + item["downloadUrl"].split("/", 3)[3], headers=headers)
    assert document.status_code == 200 and document.mimetype == "text/xml"
    assert item["hash"] == "md5:" + hashlib.md5(document.data).hexdigest()  # noqa: S324
    text = document.data.decode()
    assert 'lang="中文 (zh)"' in text and 'lang="English (en)"' in text
    assert "jr://file-csv/households.csv" in text
    assert f'version="{item["version"]}"' in text


def test_version_changes_when_the_category_list_changes(app, factory):
    admin = factory.actor("admin")
    _doc, before = xform(db.session, REPORT_FORM)
    _doc, visit_before = xform(db.session, VISIT_FORM)
    add_category(db.session, admin.user, {"code": "graffiti", "name_zh": "乱涂乱画",
                                           "name_en": "Graffiti", "sla_hours": 48})
    db.session.commit()
    document, after = xform(db.session, REPORT_FORM)
    assert after != before and xform(db.session, VISIT_FORM)[1] != visit_before
    assert f'version="{after}"'.encode() in document


def _media(client, headers, form_id: str) -> dict[str, tuple[str, bytes]]:
    response = client.get(f"/openrosa/forms/{form_id}/manifest", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    found = {}
    for entry in fromstring(response.data).findall("m:mediaFile", NS):
        url = entry.findtext("m:downloadUrl", namespaces=NS)
        data = client.get("/" + url.split("/", 3)[3], headers=headers)
        assert data.status_code == 200
        found[entry.findtext("m:filename", namespaces=NS)] = (
            entry.findtext("m:hash", namespaces=NS), data.data)
    return found


def test_households_csv_holds_my_grids_only_with_the_phone_masked(client, factory):
    worker = factory.actor("grid_worker", grids=("G1",))
    mine = add_household(factory, "G1", door="101", phone="13812345678")
    add_household(factory, "G2", door="202")
    headers = basic(worker.user.username, PASSWORD)
    media = _media(client, headers, "gridwork_visit")
    digest, data = media["households.csv"]
    assert digest == "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["name"], r["code"], r["phone"]) for r in rows] == [
        (str(mine.id), mine.code, "138****5678")]
    assert mine.head_name in rows[0]["label"]
    assert "13812345678" not in data.decode()


def test_media_hash_changes_when_my_households_change(client, factory):
    worker = factory.actor("grid_worker", grids=("G1",))
    add_household(factory, "G1", door="101")
    headers = basic(worker.user.username, PASSWORD)
    before = _media(client, headers, "gridwork_visit")["households.csv"][0]
    add_household(factory, "G1", door="102")
    after = _media(client, headers, "gridwork_visit")["households.csv"][0]
    assert before != after


def test_unknown_media_file_and_form_are_404_in_openrosa_xml(client, factory):
    worker = factory.actor("grid_worker")
    headers = basic(worker.user.username, PASSWORD)
    for path in ("/openrosa/forms/gridwork_visit/media/secrets.csv",
                 "/openrosa/forms/nope/manifest"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404
        assert b"OpenRosaResponse" in response.data


def test_basic_is_neither_offered_nor_taken_over_plain_http_from_afar(client, factory):
    worker = factory.actor("grid_worker")
    far = {"REMOTE_ADDR": "10.1.2.3"}
    bare = client.head("/openrosa/submission", environ_base=far)
    assert bare.status_code == 401
    assert [v.split()[0] for v in bare.headers.getlist("WWW-Authenticate")] == ["Digest"]
    refused = client.head("/openrosa/submission", environ_base=far,
                          headers=basic(worker.user.username, PASSWORD))
    assert refused.status_code == 401
    secure = client.head("/openrosa/submission", base_url="https://gridwork.example",
                         environ_base=far, headers=basic(worker.user.username, PASSWORD))
    assert secure.status_code == 204
    assert int(secure.headers["X-OpenRosa-Accept-Content-Length"]) > 0


def test_collect_password_works_with_basic_and_an_api_token_does_not(client, factory):
    worker = factory.actor("grid_worker")
    password = issue_collect_password(db.session, worker.user)
    db.session.commit()
    ok = client.head("/openrosa/submission", headers=basic(worker.user.username, password))
    assert ok.status_code == 204
    token = client.head("/openrosa/submission", headers=basic(worker.user.username, worker.token))
    assert token.status_code == 401


def test_failures_lock_the_username_for_every_way_of_logging_in(client, factory, app):
    """OpenRosa's failures count with the API's: the fifth locks the token endpoint too."""
    worker = factory.actor("grid_worker")
    name = worker.user.username
    for _ in range(app.config.get("LOGIN_MAX_FAILURES", 5)):
        wrong = client.get("/openrosa/formList", headers=basic(name, "wrong-password"),
                           environ_base={"REMOTE_ADDR": "127.0.0.2"})
        assert wrong.status_code in (401, 429)
    locked = client.get("/openrosa/formList", headers=basic(name, PASSWORD),
                        environ_base={"REMOTE_ADDR": "127.0.0.3"})
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    api = client.post("/api/v1/auth/tokens", json={"username": name, "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "127.0.0.4"})
    assert api.status_code == 429


def test_failed_openrosa_logins_fill_the_apis_address_bucket(client, factory):
    """Per client address, the same bucket as POST /auth/tokens (LOGIN_RATE_LIMIT)."""
    worker = factory.actor("grid_worker")
    names = [f"nobody{i}" for i in range(5)]
    for name in names:
        assert client.get("/openrosa/formList",
                          headers=basic(name, "x" * 12)).status_code == 401
    api = client.post("/api/v1/auth/tokens",
                      json={"username": worker.user.username, "password": PASSWORD})
    assert api.status_code == 429


@pytest.mark.parametrize("header", [None, "Bearer gw_whatever"])
def test_without_basic_or_digest_the_answer_is_a_challenge_not_a_failure(client, header):
    headers = {"Authorization": header} if header else {}
    for _ in range(8):  # more than the address limit: challenges are not failures
        response = client.get("/openrosa/formList", headers=headers)
        assert response.status_code == 401
        assert response.headers.getlist("WWW-Authenticate")
