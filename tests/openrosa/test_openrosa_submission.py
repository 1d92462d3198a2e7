"""Collect's submissions over a real server process, the cases of ODK Central's own tests.

Each test drives :class:`tests.openrosa.collect.CollectClient` (what Collect sends, in the
order it sends it) against gunicorn, then reads the result through the JSON API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import requests

from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Visit
from server.openrosa.submission import photo_uuid
from tests.factories import Factory
from tests.openrosa.collect import CollectClient, fill_instance
from tests.openrosa.conftest import ACCEPT_LENGTH, Phone, collect_for, jpeg
from tests.server.visit_support import add_household, point_at


def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


def _visit_form(collect: CollectClient) -> bytes:
    item = next(f for f in collect.form_list() if f["formID"] == "gridwork_visit")
    form, _media = collect.download(item)
    return form


def _visit_xml(form: bytes, instance_id: str, household_id: int, *,
               at: tuple[float, float] = Factory.G1_CENTER, outcome: str = "met",
               photos: tuple[str, ...] = (), notes: str = "老人身体好") -> bytes:
    answers = {"start": _now(), "end": _now(), "household": household_id, "outcome": outcome,
               "notes": notes, "location": f"{at[0]} {at[1]} 30.0 8.0",
               "photos": [{"photo": name} for name in photos]}
    return fill_instance(form, answers, instance_id)


def _api(server: LiveServer, phone: Phone, path: str) -> dict:
    response = requests.get(f"{server.url}/api/v1{path}", headers=phone.actor.headers,
                            timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_new_instance_answers_201_and_the_visit_is_in_the_api(phone, openrosa_server):
    """HEAD, then one multipart POST: 201 with a Chinese message; the visit is the API's."""
    form = _visit_form(phone.collect)
    instance_id = str(uuid.uuid4())
    parts = phone.collect.submit(_visit_xml(form, instance_id, phone.household.id),
                                 "gridwork_visit_2026-12-05.xml")
    assert [p.status for p in parts] == [201]
    assert "走访已记录" in parts[0].message
    # The challenge is answered once (on the form list); then every request carries Digest.
    calls = [(m, p.split("?")[0], s) for m, p, s in phone.collect.requests]
    assert calls[0] == ("GET", "/openrosa/formList", 401)
    assert calls[-2:] == [("HEAD", "/openrosa/submission", 204),
                          ("POST", "/openrosa/submission", 201)]
    visits = _api(openrosa_server, phone, "/visits")["items"]
    assert [(v["client_uuid"], v["outcome"], v["off_site"]) for v in visits] == [
        (instance_id, "met", False)]


def test_same_instance_again_is_a_success_with_one_record(phone, openrosa_server):
    form = _visit_form(phone.collect)
    instance_id = str(uuid.uuid4())
    xml = _visit_xml(form, instance_id, phone.household.id)
    first = phone.collect.submit(xml, "visit.xml")
    again = phone.collect.submit(xml, "visit.xml")
    assert [p.status for p in first + again] == [201, 201]
    assert "之前已收到" in again[0].message
    assert len(_api(openrosa_server, phone, "/visits")["items"]) == 1


def test_changed_xml_under_the_same_instance_id_is_409(phone):
    form = _visit_form(phone.collect)
    instance_id = str(uuid.uuid4())
    assert phone.collect.submit(_visit_xml(form, instance_id, phone.household.id),
                                "v.xml")[0].status == 201
    changed = _visit_xml(form, instance_id, phone.household.id, outcome="not_home")
    part = phone.collect.submit(changed, "v.xml")[0]
    assert part.status == 409
    assert "冲突" in part.message


def test_photos_split_over_parts_make_the_record_only_with_the_last(phone, openrosa_server):
    """Three photos of ~37 kB against a 60 kB limit: Collect sends three parts, each with
    the XML, the first two marked *isIncomplete*; the visit exists after the third."""
    form = _visit_form(phone.collect)
    instance_id = str(uuid.uuid4())
    photos = [(f"{1733400000000 + i}.jpg", jpeg(i, size=(230, 190))) for i in range(3)]
    assert all(ACCEPT_LENGTH // 2 < len(data) < ACCEPT_LENGTH for _n, data in photos)
    xml = _visit_xml(form, instance_id, phone.household.id,
                     photos=tuple(name for name, _d in photos))
    sent: list = []
    original = phone.collect._post

    def spy(body, incomplete):  # what the server holds after each part
        response = original(body, incomplete)
        db.session.rollback()
        sent.append((response.status_code,
                     db.session.query(Visit).filter_by(client_uuid=instance_id).count()))
        return response

    phone.collect._post = spy  # type: ignore[method-assign]
    parts = phone.collect.submit(xml, "visit.xml", photos)
    assert [(p.status, p.incomplete, len(p.names)) for p in parts] == [
        (202, True, 1), (202, True, 1), (201, False, 1)]
    assert sent == [(202, 0), (202, 0), (201, 1)]
    visit = _api(openrosa_server, phone, "/visits")["items"][0]
    assert visit["photo_ids"] == [photo_uuid(instance_id, name) for name, _d in photos]


def test_a_last_part_without_its_photo_is_refused_and_makes_nothing(phone):
    form = _visit_form(phone.collect)
    instance_id = str(uuid.uuid4())
    xml = _visit_xml(form, instance_id, phone.household.id, photos=("gone.jpg",))
    part = phone.collect.submit(xml, "visit.xml")[0]
    assert part.status == 400
    assert "gone.jpg" in part.message
    db.session.rollback()
    assert db.session.query(Visit).filter_by(client_uuid=instance_id).count() == 0


def test_photo_is_stored_byte_identical_with_its_exif_gps_read(phone, factory,
                                                                openrosa_server):
    form = _visit_form(phone.collect)
    instance_id = str(uuid.uuid4())
    data = jpeg(7, gps=(28.8021, 113.0741))
    xml = _visit_xml(form, instance_id, phone.household.id, photos=("door.jpg",))
    assert phone.collect.submit(xml, "visit.xml", [("door.jpg", data)])[-1].status == 201
    photo_id = photo_uuid(instance_id, "door.jpg")
    meta = _api(openrosa_server, phone, f"/photos/{photo_id}")
    assert (round(meta["exif"]["lat"], 4), round(meta["exif"]["lon"], 4)) == (28.8021, 113.0741)
    assert meta["size_bytes"] == len(data)
    secretary = factory.actor("secretary")
    original = requests.get(f"{openrosa_server.url}/api/v1/photos/{photo_id}/original",
                            headers=secretary.headers, timeout=10)
    assert original.status_code == 200
    assert original.content == data


def test_visit_far_from_the_household_is_flagged_off_site(phone, openrosa_server):
    form = _visit_form(phone.collect)
    far = point_at(Factory.G1_CENTER, 400)
    part = phone.collect.submit(_visit_xml(form, str(uuid.uuid4()), phone.household.id, at=far),
                                "visit.xml")[0]
    assert part.status == 201
    assert "不在现场" in part.message
    visit = _api(openrosa_server, phone, "/visits?off_site=true")["items"][0]
    assert visit["off_site"] is True and visit["distance_m"] > 300


def test_unknown_form_id_is_404(phone):
    xml = (b"<?xml version='1.0' ?><no_such_form id=\"no_such_form\"><meta><instanceID>"
           b"uuid:" + str(uuid.uuid4()).encode() + b"</instanceID></meta></no_such_form>")
    part = phone.collect.submit(xml, "x.xml")[0]
    assert part.status == 404
    assert "no_such_form" in part.message


def test_malformed_xml_is_400_with_an_openrosa_response(phone, openrosa_server):
    part = phone.collect.submit(b"<gridwork_visit id='gridwork_visit'><unclosed>", "x.xml")[0]
    assert part.status == 400
    assert part.message.startswith("提交的表格无法处理")


def test_no_credentials_is_401_with_www_authenticate(openrosa_server):
    response = requests.head(f"{openrosa_server.url}/openrosa/submission", timeout=10)
    assert response.status_code == 401
    offered = response.raw.headers.getlist("WWW-Authenticate")
    assert [o.split()[0] for o in offered] == ["Basic", "Digest"]  # loopback: both
    assert 'realm="Gridwork"' in offered[1] and 'qop="auth"' in offered[1]
    assert response.headers["X-OpenRosa-Version"] == "1.0"


def test_worker_visit_to_another_grids_household_is_403(phone, factory):
    other = add_household(factory, "G2", door="202")
    form = _visit_form(phone.collect)
    part = phone.collect.submit(_visit_xml(form, str(uuid.uuid4()), other.id,
                                           at=Factory.G2_CENTER), "v.xml")[0]
    assert part.status == 403
    db.session.rollback()
    assert db.session.query(Visit).count() == 0


def test_wrong_collect_password_is_401_and_counted(phone, openrosa_server):
    from server.models import LoginFailure

    collect = collect_for(openrosa_server, phone.actor, "not-the-password")
    assert collect.probe().status_code == 401
    db.session.rollback()
    failures = db.session.get(LoginFailure, phone.actor.user.username)
    assert failures is not None and failures.failures == 1


def test_basic_with_the_account_password_works_over_loopback(phone, openrosa_server):
    from tests.factories import PASSWORD

    collect = collect_for(openrosa_server, phone.actor, PASSWORD, scheme="basic")
    form = _visit_form(collect)
    part = collect.submit(_visit_xml(form, str(uuid.uuid4()), phone.household.id), "v.xml")[0]
    assert part.status == 201
    # Collect waits for the challenge, then sends Basic on every request.
    assert collect.requests[0][2] == 401 and all(s != 401 for _m, _p, s in collect.requests[1:])


def test_report_with_a_photo_is_a_case_with_the_reports_flags(phone, openrosa_server):
    item = next(f for f in phone.collect.form_list() if f["formID"] == "gridwork_report")
    form, media = phone.collect.download(item)
    assert "垃圾" in media["categories.csv"].decode()
    instance_id = str(uuid.uuid4())
    far = point_at(Factory.G1_CENTER, 300)  # the photo's EXIF GPS is the grid's centre
    xml = fill_instance(form, {"start": _now(), "category": "garbage", "description": "河边垃圾",
                               "photo": "river.jpg", "location": f"{far[0]} {far[1]} 0 5"},
                        instance_id)
    parts = phone.collect.submit(xml, "report.xml", [("river.jpg", jpeg(3))])
    assert parts[-1].status == 201
    assert "案件编号" in parts[-1].message and "照片定位与上报位置不符" in parts[-1].message
    reports = _api(openrosa_server, phone, "/reports")["items"]
    assert [(r["client_uuid"], r["category"], r["flags"]) for r in reports] == [
        (instance_id, "garbage", ["location_mismatch"])]
    assert reports[0]["photo_ids"] == [photo_uuid(instance_id, "river.jpg")]


def test_visit_in_the_future_is_refused_with_the_schema_message(phone):
    form = _visit_form(phone.collect)
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    xml = fill_instance(form, {"start": later, "household": phone.household.id,
                               "outcome": "met", "location": "28.802 113.074 0 5"},
                        str(uuid.uuid4()))
    part = phone.collect.submit(xml, "v.xml")[0]
    assert part.status == 422
    assert "future" in part.message
