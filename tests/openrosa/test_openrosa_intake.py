"""Submissions in process: needs that become cases, refused photos, Digest's nonces."""

from __future__ import annotations

import io
import re
import time
import uuid
from datetime import UTC, datetime

from requests.auth import HTTPDigestAuth

from server.extensions import db
from server.models import LoginFailure, Photo, Report, Visit
from server.openrosa import auth as openrosa_auth
from server.openrosa.auth import issue_collect_password
from server.openrosa.forms import VISIT_FORM, xform
from server.services.photos import photo_store
from tests.factories import PASSWORD, Factory
from tests.openrosa.collect import fill_instance
from tests.openrosa.conftest import jpeg
from tests.openrosa.test_openrosa_forms import basic
from tests.server.visit_support import add_household


def _post(client, headers, xml: bytes, files: dict[str, bytes] | None = None,
          incomplete: bool = False):
    data = {"xml_submission_file": (io.BytesIO(xml), "instance.xml", "text/xml")}
    for name, content in (files or {}).items():
        data[name] = (io.BytesIO(content), name, "image/jpeg")
    if incomplete:
        data["*isIncomplete*"] = "yes"
    return client.post("/openrosa/submission?deviceID=collect%3Atest", data=data,
                       headers=headers, content_type="multipart/form-data")


def _visit(household_id: int, **answers) -> tuple[str, bytes]:
    form, _version = xform(db.session, VISIT_FORM)
    instance_id = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()
    values = {"start": now, "household": household_id, "outcome": "met",
              "location": f"{Factory.G1_CENTER[0]} {Factory.G1_CENTER[1]} 0 5", **answers}
    return instance_id, fill_instance(form, values, instance_id)


def test_a_need_marked_for_a_case_becomes_a_report(client, factory):
    worker = factory.actor("grid_worker")
    household = add_household(factory, "G1")
    instance_id, xml = _visit(household.id, need=[
        {"category": "drain", "text": "下水道堵了", "create_report": "yes"},
        {"category": "garbage", "text": "楼道有垃圾", "create_report": "no"}])
    response = _post(client, basic(worker.user.username, PASSWORD), xml)
    assert response.status_code == 201, response.data.decode()
    visit = db.session.query(Visit).filter_by(client_uuid=instance_id).one()
    assert [(n.category, n.text, n.report_id is not None) for n in visit.needs] == [
        ("drain", "下水道堵了", True), ("garbage", "楼道有垃圾", False)]
    assert db.session.get(Report, visit.needs[0].report_id).category_code == "drain"


def test_an_attachment_that_is_no_image_is_415_and_nothing_is_kept(client, factory):
    worker = factory.actor("grid_worker")
    household = add_household(factory, "G1")
    instance_id, xml = _visit(household.id, photos=[{"photo": "a.jpg"}])
    response = _post(client, basic(worker.user.username, PASSWORD), xml,
                     {"a.jpg": b"this is not a picture at all" * 20})
    assert response.status_code == 415
    assert b"OpenRosaResponse" in response.data
    assert db.session.query(Visit).count() == 0


def test_files_the_form_does_not_name_are_left_alone(client, factory):
    worker = factory.actor("grid_worker")
    household = add_household(factory, "G1")
    instance_id, xml = _visit(household.id, photos=[{"photo": "a.jpg"}])
    response = _post(client, basic(worker.user.username, PASSWORD), xml,
                     {"a.jpg": jpeg(1), "audit.csv": b"event,node\n"})
    assert response.status_code == 201
    visit = db.session.query(Visit).filter_by(client_uuid=instance_id).one()
    assert len(visit.photo_ids) == 1


def test_a_department_may_not_submit_a_visit_403(client, factory):
    department = factory.actor("department")
    password = issue_collect_password(db.session, department.user)
    db.session.commit()
    instance_id, xml = _visit(1)
    response = _post(client, basic(department.user.username, password), xml)
    assert response.status_code == 403


def _digest_header(client, username: str, password: str, path: str, *,
                   nonce: str | None = None) -> str:
    challenge = client.head(path).headers.getlist("WWW-Authenticate")[-1]
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge.partition(" ")[2]))
    if nonce:
        params["nonce"] = nonce
    digest = HTTPDigestAuth(username, password)
    digest.init_per_thread_state()
    digest._thread_local.chal = params
    return digest.build_digest_header("HEAD", f"http://localhost{path}")


def test_digest_with_the_collect_password_and_an_old_nonce_is_stale_not_failed(client,
                                                                               factory, app):
    worker = factory.actor("grid_worker")
    password = issue_collect_password(db.session, worker.user)
    db.session.commit()
    path = "/openrosa/submission"
    fresh = _digest_header(client, worker.user.username, password, path)
    assert client.head(path, headers={"Authorization": fresh}).status_code == 204
    with app.test_request_context():
        old_stamp = str(int(time.time()) - openrosa_auth.NONCE_TTL_S - 60)
        old = f"{old_stamp}-{openrosa_auth._mac(b'nonce', old_stamp)[:32]}"
    stale = client.head(path, headers={"Authorization": _digest_header(
        client, worker.user.username, password, path, nonce=old)})
    assert stale.status_code == 401
    assert "stale=true" in stale.headers.getlist("WWW-Authenticate")[-1]
    wrong = client.head(path, headers={"Authorization": _digest_header(
        client, worker.user.username, "not-it", path)})
    assert wrong.status_code == 401
    db.session.rollback()
    assert db.session.get(LoginFailure, worker.user.username).failures == 1
    right = _digest_header(client, worker.user.username, password, path)
    assert client.head(path, headers={"Authorization": right}).status_code == 204
    db.session.rollback()
    assert db.session.get(LoginFailure, worker.user.username) is None  # as login() forgets


def test_digest_with_the_account_password_fails(client, factory):
    worker = factory.actor("grid_worker")
    path = "/openrosa/formList"
    header = _digest_header(client, worker.user.username, PASSWORD, path)
    assert client.get(path, headers={"Authorization": header}).status_code == 401


def _stored_originals(media_dir) -> set[str]:
    return {p.name.partition(".")[0] for p in media_dir.rglob("*")
            if p.is_file() and "tmp" not in p.relative_to(media_dir).parts}


def test_a_refused_submission_leaves_no_photo_file_behind(client, factory, media_dir):
    worker = factory.actor("grid_worker")
    others = add_household(factory, "G2")  # not the worker's grid: the visit is refused 403
    before = _stored_originals(media_dir)
    _instance_id, xml = _visit(others.id, photos=[{"photo": "a.jpg"}])
    response = _post(client, basic(worker.user.username, PASSWORD), xml, {"a.jpg": jpeg(41)})
    assert response.status_code == 403, response.data.decode()
    db.session.rollback()
    assert db.session.query(Photo).count() == 0
    assert _stored_originals(media_dir) == before


def test_a_refused_submission_keeps_a_file_an_earlier_photo_names(app, client, factory,
                                                                  media_dir):
    worker = factory.actor("grid_worker")
    mine, others = add_household(factory, "G1"), add_household(factory, "G2", door="102")
    picture = jpeg(42)
    _instance_id, xml = _visit(mine.id, photos=[{"photo": "a.jpg"}])
    accepted = _post(client, basic(worker.user.username, PASSWORD), xml, {"a.jpg": picture})
    assert accepted.status_code == 201, accepted.data.decode()
    kept = _stored_originals(media_dir)
    assert kept
    _instance_id, xml = _visit(others.id, photos=[{"photo": "b.jpg"}])
    refused = _post(client, basic(worker.user.username, PASSWORD), xml, {"b.jpg": picture})
    assert refused.status_code == 403, refused.data.decode()
    db.session.rollback()
    assert db.session.query(Photo).count() == 1
    assert _stored_originals(media_dir) == kept
    (photo,) = db.session.query(Photo).all()
    assert photo_store(app.config).exists("original", photo.sha256)
