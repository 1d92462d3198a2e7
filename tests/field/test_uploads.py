"""Photo uploads on a bad line: a connection cut mid-upload and a tab closed mid-upload both
resume from the server's offset (tus), and no 512 KB chunk goes out more than twice."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select

from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Photo, Report
from tests.field.conftest import (
    FieldWatch,
    FieldWorld,
    idb_blobs,
    login,
    open_app,
    wait_synced,
)

CHUNK = 512 * 1024


def test_upload_resumes_after_a_cut_and_after_the_tab_is_closed(
        phone: Any, live_server: LiveServer, field_world: FieldWorld, watch: FieldWatch,
        tmp_path: Path, app: Any) -> None:
    watch.expect_cuts = True
    # Grain a camera would never make, so that a photo the phone keeps as it is (under
    # 2048 px) spans seven chunks.
    rng = random.Random(7)
    image = Image.frombytes("RGB", (1600, 1200), rng.randbytes(1600 * 1200 * 3))
    photo = tmp_path / "IMG_cut.jpg"
    image.save(photo, "JPEG", quality=95, subsampling=0)
    sends: Counter[tuple[str, str]] = Counter()
    creations: list[str] = []
    plan = {"patches": 0, "held": None}

    def on_request(request: Any) -> None:
        if "/api/v1/uploads/" not in request.url:
            return
        if request.method == "PATCH":
            sends[(request.url, request.headers.get("upload-offset", ""))] += 1
        elif request.method == "POST":
            creations.append(request.url)

    def on_upload(route: Any) -> None:
        request = route.request
        if request.method != "PATCH":
            route.continue_()
            return
        plan["patches"] += 1
        if plan["patches"] == 2:  # the line drops before the chunk reaches the server
            route.abort("connectionreset")
        elif plan["patches"] == 4:  # the server gets the chunk, the phone never hears
            route.fetch()
            route.abort("connectionreset")
        elif plan["patches"] == 6:  # the worker closes the app while this chunk is out
            plan["held"] = route
        else:
            route.continue_()

    phone.on("request", on_request)
    phone.route("**/api/v1/uploads/**", on_upload)
    page = open_app(phone, watch)
    login(page, "zhou")
    page.click("nav a[data-tab=report]")
    page.wait_for_selector("#report-form #place:not(:has(.warn))")
    page.set_input_files("#report-photos", str(photo))
    page.wait_for_selector("#report-photos-list img")
    page.click("#save")
    page.wait_for_selector('body[data-view="outbox"]')
    sent = idb_blobs(page)
    (photo_id, blob), = sent.items()
    assert len(blob) > 5 * CHUNK, "the test needs a photo of several chunks"
    deadline = 600
    while plan["held"] is None and deadline:
        page.wait_for_timeout(100)  # the app backs off (full jitter) between tries
        deadline -= 1
    assert plan["held"] is not None, f"only {plan['patches']} PATCHes: {page.inner_text('#view')}"
    page.close()
    plan["held"].abort("connectionreset")

    page = open_app(phone, watch, "#/outbox")  # the new tab resumes the upload
    wait_synced(page)
    assert len(creations) == 1, "the upload was started again instead of resumed"
    assert plan["patches"] >= 7
    assert max(sends.values()) <= 2, sends
    assert sum(sends.values()) <= -(-len(blob) // CHUNK) + 3
    with app.app_context():
        stored = db.session.get(Photo, photo_id)
        assert stored is not None and stored.sha256 == hashlib.sha256(blob).hexdigest()
        report = db.session.scalars(select(Report)).one()
        assert [p.id for p in report.photos] == [photo_id]
