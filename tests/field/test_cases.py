"""My cases (item 9) on the phone: a department handler replies to a dispatched case (回告)
with an after-photo while offline; the move is queued with its client_uuid and made once."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Report, Visit
from server.models.types import utcnow
from tests.factories import Factory
from tests.field.conftest import FieldWatch, FieldWorld, jpeg_files, open_app, wait_synced
from tests.server.storage.imagegen import make_jpeg


def _ok(answer: Any, status: int = 201) -> Any:
    assert answer.status_code == status, answer.get_data(as_text=True)
    return answer.get_json()


def test_department_replies_to_its_case_offline_with_an_after_photo(
        phone: Any, live_server: LiveServer, field_world: FieldWorld, watch: FieldWatch,
        client: Any, factory: Factory, app: Any, tmp_path: Path) -> None:
    watch.expect_cuts = True  # offline without a service worker: the icon does not load
    worker = field_world.worker
    dispatcher = factory.actor("dispatcher", username="zhihui")
    factory.actor("department", department="WATER", username="shuiwu")
    photo = _ok(client.post("/api/v1/photos", headers=worker.headers, data={
        "file": (io.BytesIO(make_jpeg(320, 240, gps=(28.802, 113.074))), "p.jpg", "image/jpeg"),
        "client_uuid": str(uuid.uuid4())}, content_type="multipart/form-data"))
    case = _ok(client.post("/api/v1/reports", headers=worker.headers, json={
        "client_uuid": str(uuid.uuid4()), "category": "drain", "description": "井盖缺失",
        "location": {"lat": 28.802, "lon": 113.074, "accuracy_m": 5},
        "captured_at": utcnow().isoformat(), "photo_ids": [photo["id"]]}))["id"]
    for move in ({"action": "accept"}, {"action": "dispatch", "department": "WATER"}):
        _ok(client.post(f"/api/v1/reports/{case}/transitions", headers=dispatcher.headers,
                        json=move))

    page = open_app(phone, watch)
    page.fill("#username", "shuiwu")
    page.fill("#password", field_world.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-pulled]", state="attached")
    page.click("nav a[data-tab=cases]")
    page.click(f'a[href="#/case/{case}"]')
    page.wait_for_selector("#case-steps li")  # online: the timeline, kept for offline
    assert page.locator("#case-steps li").count() == 3
    phone.set_offline(True)
    page.check("input[name=action][value=handle]")
    page.fill("#move-note", "已补装井盖")
    after, = jpeg_files(tmp_path, 1, width=1600, height=1200)
    page.set_input_files("#move-photos", str(after))
    page.wait_for_selector("#move-photos-list img")
    page.click("#move-form button[type=submit]")
    page.wait_for_selector('body[data-waiting="2"]', state="attached")  # the step, its photo
    phone.set_offline(False)
    wait_synced(page)
    with app.app_context():
        report = db.session.scalars(select(Report).where(Report.id == case)).one()
        assert report.status == "handled"
    timeline = _ok(client.get(f"/api/v1/reports/{case}/timeline",
                              headers=dispatcher.headers), 200)
    handled = [s for s in timeline["steps"] if s["action"] == "handle"]
    assert len(handled) == 1 and len(handled[0]["photo_ids"]) == 1
    assert handled[0]["note"] == "已补装井盖"


def test_a_need_raised_at_the_door_becomes_a_report(
        phone: Any, live_server: LiveServer, field_world: FieldWorld, watch: FieldWatch,
        app: Any) -> None:
    page = open_app(phone, watch)
    page.fill("#username", "zhou")
    page.fill("#password", field_world.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#agenda a.hh")
    page.goto(f"/field/#/visit/{field_world.households[3]}")
    page.wait_for_selector("#visit-form #place:not(:has(.warn))")
    page.click("#add-need")
    page.select_option("#needs li .need-category", "drain")
    page.fill("#needs li .need-text", "楼道下水道堵塞")
    page.check("#needs li .need-report")
    page.click("#add-need")  # a service need cannot become a report
    page.select_option("#needs li:nth-child(2) .need-category", "welfare")
    assert page.is_disabled("#needs li:nth-child(2) .need-report")
    page.fill("#needs li:nth-child(2) .need-text", "申请低保")
    page.fill("#follow-up", "2099-01-31")
    page.click("#save")
    page.wait_for_selector('body[data-view="agenda"]')
    wait_synced(page)
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.category_code == "drain" and "下水道" in report.description
        visit = db.session.scalars(select(Visit)).one()
        assert [n.category for n in visit.needs] == ["drain", "welfare"]
        assert visit.follow_up_on.isoformat() == "2099-01-31"
