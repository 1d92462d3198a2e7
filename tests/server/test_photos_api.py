"""One-shot photo upload, photo metadata and images, and who may see them."""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from server.models import Photo
from tests.server.storage.imagegen import (
    corrupt,
    make_bomb,
    make_jpeg,
    make_png,
    make_webp,
    truncate,
)

G1_POINT = (28.802, 113.074)


def post_photo(client, actor, data: bytes, *, client_uuid: str | None = None,
               filename: str = "photo.jpg", uuid_first: bool = True):
    """POST /api/v1/photos with ``data`` as the ``file`` part."""
    fields: dict[str, object] = {}
    if client_uuid and uuid_first:
        fields["client_uuid"] = client_uuid
    fields["file"] = (io.BytesIO(data), filename)
    if client_uuid and not uuid_first:
        fields["client_uuid"] = client_uuid
    return client.post("/api/v1/photos", data=fields, headers=actor.headers,
                       content_type="multipart/form-data")


def stored_files(media_dir: Path) -> set[Path]:
    """Every file under the media folder."""
    return {p for p in media_dir.rglob("*") if p.is_file()}


def test_jpeg_upload_stores_photo_with_exif_gps_and_returns_201(client, factory, media_dir):
    worker = factory.actor("grid_worker")
    data = make_jpeg(640, 480, gps=G1_POINT, altitude=35.5, make="HUAWEI", model="P60")
    photo_id = str(uuid.uuid4())
    resp = post_photo(client, worker, data, client_uuid=photo_id)
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["id"] == photo_id
    assert body["format"] == "jpeg" and (body["width"], body["height"]) == (640, 480)
    assert body["exif"]["lat"] == pytest.approx(G1_POINT[0], abs=1e-6)
    assert body["exif"]["lon"] == pytest.approx(G1_POINT[1], abs=1e-6)
    assert body["exif"]["altitude_m"] == pytest.approx(35.5)
    assert body["exif"]["make"] == "HUAWEI"
    assert body["filename"] == "photo.jpg"
    assert (media_dir / "original" / body["sha256"][:2] / body["sha256"][2:4]
            / body["sha256"]).read_bytes() == data


@pytest.mark.parametrize("form", ["dms", "deg_min", "decimal_degrees", "single"])
def test_gps_in_every_rational_form_is_read(client, factory, form):
    worker = factory.actor("grid_worker")
    resp = post_photo(client, worker, make_jpeg(gps=(28.8031, 113.0712), gps_form=form))
    assert resp.status_code == 201
    assert resp.json["exif"]["lat"] == pytest.approx(28.8031, abs=1e-6)
    assert resp.json["exif"]["lon"] == pytest.approx(113.0712, abs=1e-6)


@pytest.mark.parametrize("maker,fmt", [(make_png, "png"), (make_webp, "webp")])
def test_png_and_webp_are_accepted_with_their_gps(client, factory, maker, fmt):
    worker = factory.actor("grid_worker")
    resp = post_photo(client, worker, maker(gps=G1_POINT), filename=f"x.{fmt}")
    assert resp.status_code == 201
    assert resp.json["format"] == fmt
    assert resp.json["exif"]["lat"] == pytest.approx(G1_POINT[0], abs=1e-6)


def test_exif_time_without_offset_is_read_as_beijing_time(client, factory):
    worker = factory.actor("grid_worker")
    resp = post_photo(client, worker, make_jpeg(taken_at=datetime(2026, 11, 20, 6, 37)))
    assert resp.json["exif"]["taken_at"] == "2026-11-19T22:37:00+00:00"


def test_exif_time_with_offset_keeps_its_offset(client, factory):
    worker = factory.actor("grid_worker")
    resp = post_photo(client, worker, make_jpeg(taken_at=datetime(2026, 11, 20, 6, 37),
                                                offset="+09:00"))
    assert resp.json["exif"]["taken_at"] == "2026-11-19T21:37:00+00:00"


def test_server_makes_an_id_when_the_client_sends_none(client, factory):
    worker = factory.actor("grid_worker")
    resp = post_photo(client, worker, make_jpeg())
    assert resp.status_code == 201
    assert uuid.UUID(resp.json["id"]).version == 4


def test_client_uuid_after_the_file_part_is_honoured(client, factory):
    worker = factory.actor("grid_worker")
    photo_id = str(uuid.uuid4())
    resp = post_photo(client, worker, make_jpeg(), client_uuid=photo_id, uuid_first=False)
    assert resp.status_code == 201 and resp.json["id"] == photo_id


def test_same_uuid_same_bytes_is_a_replay_and_other_bytes_409(client, factory, db):
    worker = factory.actor("grid_worker")
    photo_id, data = str(uuid.uuid4()), make_jpeg(gps=G1_POINT)
    assert post_photo(client, worker, data, client_uuid=photo_id).status_code == 201
    replay = post_photo(client, worker, data, client_uuid=photo_id)
    assert replay.status_code == 200 and replay.json["id"] == photo_id
    other = post_photo(client, worker, make_jpeg(80, 60), client_uuid=photo_id)
    assert other.status_code == 409
    assert other.mimetype == "application/problem+json"
    assert db.session.scalar(select(func.count()).select_from(Photo)) == 1


def test_same_bytes_under_two_ids_are_stored_once(client, factory, media_dir):
    worker = factory.actor("grid_worker")
    data = make_jpeg(320, 240, gps=G1_POINT)
    first = post_photo(client, worker, data)
    second = post_photo(client, factory.actor("grid_worker"), data)
    assert first.json["id"] != second.json["id"]
    assert first.json["sha256"] == second.json["sha256"]
    originals = [p for p in (media_dir / "original").rglob("*") if p.is_file()
                 and p.name == first.json["sha256"]]
    assert len(originals) == 1


@pytest.mark.parametrize("data,status,slug", [
    (corrupt(make_jpeg(800, 600, texture=30), start=0.5, length=4000), 422, "corrupt_image"),
    (truncate(make_jpeg(800, 600, texture=30), 0.5), 422, "corrupt_image"),
    (b"this is not a photo, only text\n" * 20, 415, "unsupported_media_type"),
    (make_bomb(), 422, "too_many_pixels"),
    (b"", 415, "unsupported_media_type"),
], ids=["corrupt", "truncated", "text-named-jpg", "bomb", "empty"])
def test_hostile_file_gets_its_problem_and_leaves_nothing_behind(
        client, factory, db, media_dir, data, status, slug):
    worker = factory.actor("grid_worker")
    before = stored_files(media_dir)
    resp = post_photo(client, worker, data, client_uuid=str(uuid.uuid4()), filename="evil.jpg")
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"] == f"/problems/{slug}"
    assert db.session.scalar(select(func.count()).select_from(Photo)) == 0
    assert stored_files(media_dir) == before


class CountingReader(io.BytesIO):
    """A request body that remembers how much of it the server read."""

    consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data


def test_oversize_body_is_refused_while_streaming_with_413(
        client, factory, db, media_dir, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 100_000)
    worker = factory.actor("grid_worker")
    boundary = "gridworkboundary"
    payload = make_jpeg(2000, 1500, texture=40, quality=95)
    assert len(payload) > 1_000_000
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    body += payload + f"\r\n--{boundary}--\r\n".encode()
    reader = CountingReader(body)
    before = stored_files(media_dir)
    resp = client.post("/api/v1/photos", input_stream=reader, headers=worker.headers,
                       content_type=f"multipart/form-data; boundary={boundary}",
                       content_length=len(body))
    assert resp.status_code == 413
    assert resp.json["type"] == "/problems/photo_too_large"
    assert reader.consumed < len(body) // 2  # refused mid-stream, not after buffering
    assert db.session.scalar(select(func.count()).select_from(Photo)) == 0
    assert stored_files(media_dir) == before


def test_form_without_file_is_422_and_json_body_is_415(client, factory):
    worker = factory.actor("grid_worker")
    resp = client.post("/api/v1/photos", data={"client_uuid": str(uuid.uuid4())},
                       headers=worker.headers, content_type="multipart/form-data")
    assert resp.status_code == 422 and "file" in resp.json["errors"]
    resp = client.post("/api/v1/photos", json={"file": "x"}, headers=worker.headers)
    assert resp.status_code == 415


def test_text_field_named_file_is_not_a_photo_and_broken_multipart_is_422(client, factory):
    worker = factory.actor("grid_worker")
    resp = client.post("/api/v1/photos", data={"file": "just text"}, headers=worker.headers,
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "file" in resp.json["errors"]
    resp = client.post("/api/v1/photos", data=b"--b\r\nno headers here",
                       headers=worker.headers, content_type="multipart/form-data; boundary=b")
    assert resp.status_code == 422


def test_bad_client_uuid_is_422(client, factory):
    worker = factory.actor("grid_worker")
    resp = post_photo(client, worker, make_jpeg(), client_uuid="not-a-uuid")
    assert resp.status_code == 422 and "client_uuid" in resp.json["errors"]


def test_display_and_thumb_are_cached_immutable_jpegs_without_metadata(client, factory):
    worker = factory.actor("grid_worker")
    up = post_photo(client, worker, make_jpeg(2400, 1800, gps=G1_POINT, make="X")).json
    for kind, box in (("display", 1600), ("thumb", 320)):
        resp = client.get(f"/api/v1/photos/{up['id']}/{kind}", headers=worker.headers)
        assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
        assert resp.headers["ETag"] == f'"{up["sha256"]}"'
        assert resp.headers["Cache-Control"] == "private, max-age=31536000, immutable"
        with Image.open(io.BytesIO(resp.data)) as img:
            assert max(img.size) == box
            assert not img.getexif()
        again = client.get(f"/api/v1/photos/{up['id']}/{kind}",
                           headers={**worker.headers, "If-None-Match": resp.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""


def test_uploader_sees_metadata_and_a_stranger_gets_404(client, factory):
    worker = factory.actor("grid_worker")
    stranger = factory.actor("grid_worker", grids=("G2",))
    up = post_photo(client, worker, make_jpeg()).json
    assert client.get(f"/api/v1/photos/{up['id']}", headers=worker.headers).status_code == 200
    for path in ("", "/display", "/thumb"):
        resp = client.get(f"/api/v1/photos/{up['id']}{path}", headers=stranger.headers)
        assert resp.status_code == 404


def test_photo_of_a_report_is_visible_to_whoever_sees_the_report(client, factory):
    from tests.server.test_reports_api import report_body

    worker = factory.actor("grid_worker")
    colleague = factory.actor("grid_worker", grids=("G1",))
    outsider = factory.actor("grid_worker", grids=("G2",))
    up = post_photo(client, worker, make_jpeg()).json
    assert client.get(f"/api/v1/photos/{up['id']}/thumb",
                      headers=colleague.headers).status_code == 404
    resp = client.post("/api/v1/reports", json=report_body([up["id"]]), headers=worker.headers)
    assert resp.status_code == 201, resp.json
    assert client.get(f"/api/v1/photos/{up['id']}/thumb",
                      headers=colleague.headers).status_code == 200
    assert client.get(f"/api/v1/photos/{up['id']}/thumb",
                      headers=outsider.headers).status_code == 404


def test_original_is_only_for_roles_that_may_see_originals(client, factory, db):
    from server.models import AuditLog
    from tests.server.test_reports_api import report_body

    worker = factory.actor("grid_worker")
    secretary = factory.actor("secretary")
    data = make_jpeg(gps=G1_POINT)
    up = post_photo(client, worker, data).json
    client.post("/api/v1/reports", json=report_body([up["id"]]), headers=worker.headers)
    assert client.get(f"/api/v1/photos/{up['id']}/original",
                      headers=worker.headers).status_code == 403
    with client.get(f"/api/v1/photos/{up['id']}/original", headers=secretary.headers) as resp:
        assert resp.status_code == 200 and resp.data == data
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "photo_original"))
